import type { ResolvedConfig } from '../config/schema.ts';
import { requireDatabase } from '../engines/require-database.ts';
import { engineFor } from '../engines/select.ts';
import type { EngineKind } from '../engines/contract.ts';
import { GuardError, type ExitCode } from '../errors.ts';
import type { EventListener } from '../events.ts';

export interface ArchiveOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  /** Aborting (SIGINT/SIGTERM in the CLI) stops Litestream cleanly. */
  readonly signal?: AbortSignal;
  readonly onEvent?: EventListener;
}

export interface ArchiveReport {
  readonly command: 'archive';
  readonly ok: true;
  readonly exitCode: ExitCode;
  readonly database: string;
  readonly config: string;
  readonly durationMs: number;
}

/**
 * Continuous archiving, through the engine's point in time (SQLite: `litestream replicate`,
 * pinned v0.3.13, with a configuration derived from ours), until stopped. The archiver dying on
 * its own is an error (exit 1): a service manager should restart it, and `health` should be looked at.
 */
export async function runArchive(options: ArchiveOptions): Promise<ArchiveReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const started = performance.now();
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  if (!engine.pointInTime)
    throw new GuardError('USAGE', engine.pointInTimeAdvice ?? `${engine.name}: this engine has no point-in-time archive`);
  await requireDatabase(engine);
  const { config } = await engine.pointInTime.archive({
    backupDir: options.backupDir,
    settings: options.config.archive,
    signal: options.signal,
    emit,
  });
  return { command: 'archive', ok: true, exitCode: 0, database: engine.name, config, durationMs: Math.round(performance.now() - started) };
}
