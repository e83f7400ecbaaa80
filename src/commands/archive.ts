import path from 'node:path';
import { litestreamBinary, replicateCommand, writeLitestreamConfig } from '../archive/litestream.ts';
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
 * Continuous WAL archiving: runs `litestream replicate` (pinned v0.3.13) with a configuration
 * derived from ours, until stopped. Litestream dying on its own is an error (exit 1): a service
 * manager should restart it, and `health` should be looked at.
 */
export async function runArchive(options: ArchiveOptions): Promise<ArchiveReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const started = performance.now();
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  if (engine.pointInTimeAdvice !== null) throw new GuardError('USAGE', engine.pointInTimeAdvice);
  await requireDatabase(engine);
  const database = engine.name;
  const binary = litestreamBinary();
  const { config, env } = await writeLitestreamConfig(database, path.resolve(options.backupDir), options.config.archive);
  const { execa } = await import('execa');
  const replicate = replicateCommand(binary, config);
  const litestream = execa(replicate.file, [...replicate.args], {
    reject: false,
    stdin: 'ignore',
    all: true,
    env,
    cancelSignal: options.signal,
    forceKillAfterDelay: 10_000,
  });
  let lastLine = '';
  litestream.all?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      lastLine = line;
      const message = /msg="?([^"]*?)"?(?: \w+=|$)/.exec(line)?.[1] ?? line;
      emit({ type: 'step', message: `litestream: ${message}${/ERROR/.test(line) ? ` (${line})` : ''}` });
    }
  });
  emit({ type: 'step', message: `archiving ${database} with Litestream (config ${config}); stop with Ctrl-C` });
  const result = await litestream;
  if (options.signal?.aborted) {
    return { command: 'archive', ok: true, exitCode: 0, database, config, durationMs: Math.round(performance.now() - started) };
  }
  throw new GuardError('USAGE', `litestream stopped on its own (exit ${result.exitCode ?? result.signal}): ${lastLine || 'no output'}`);
}
