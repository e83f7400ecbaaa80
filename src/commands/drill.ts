import { readManifest } from '../backup/manifest.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { recordJob } from '../backup/event-log.ts';
import { backupOwner } from '../backup/identity.ts';
import { listBackups } from '../backup/store.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import { engineDiskFull } from '../engines/registry.ts';
import { engineFor } from '../engines/select.ts';
import type { EngineKind } from '../engines/contract.ts';
import { GuardError, isDiskFull, messageOf, type ExitCode } from '../errors.ts';
import type { EventListener } from '../events.ts';
import { recordedMigrations } from '../history/select.ts';
import { prepareBackup } from '../restore/prepare.ts';
import { restoreStrictly, type RestoreProof } from '../restore/restore-full.ts';

/** The runbook's recovery time objective: a full restore in under 30 minutes. */
export const RESTORE_OBJECTIVE_MS = 30 * 60_000;

export interface DrillOptions {
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  /** The live database: the drill's scratch database is made on its engine (its server, for PostgreSQL). */
  readonly database?: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  /** A given backup; default the newest verified one. */
  readonly backup?: string;
  /** Drill from the WAL archive's latest point instead of a backup (needs `database` for the config). */
  readonly fromArchive?: { readonly database: string };
  readonly scratchDir?: string;
  readonly onEvent?: EventListener;
}

export interface DrillReport {
  readonly command: 'drill';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly backup: string;
  /** The measured recovery time: verify the backup, restore it, prove the result. */
  readonly restoreMs: number;
  readonly objectiveMs: number;
  readonly proof: RestoreProof | null;
  readonly error: string | null;
}

/**
 * The monthly disaster-recovery drill: the same restore code as a real restore, into a scratch
 * database, with the strict post-restore proof; the time it took goes to the event log.
 */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const backupDir = path.resolve(options.backupDir);
  let file = options.backup ? path.resolve(options.backup) : null;
  let releaseArchive: (() => Promise<void>) | null = null;
  // The live database's engine, built once: its backups, its archive, its server for the scratch database.
  const named =
    options.database === undefined
      ? null
      : await engineFor(options.database, { stateDir: backupDir, kind: options.engine, directUrl: options.directUrl });
  if (options.fromArchive) {
    const live =
      options.fromArchive.database === options.database && named !== null
        ? named
        : await engineFor(options.fromArchive.database, { stateDir: backupDir, kind: options.engine, directUrl: options.directUrl });
    if (!live.pointInTime)
      throw new GuardError('USAGE', live.pointInTimeAdvice ?? `${live.name}: this engine has no point-in-time archive`);
    const restored = await live.pointInTime.restoreToFile(backupDir, options.config.archive, null);
    if (!restored.ok) throw new GuardError('USAGE', `the WAL archive cannot be restored: ${restored.reason}`);
    emit({ type: 'step', message: `drill: the WAL archive restored to ${restored.timestamp}` });
    file = restored.file;
    releaseArchive = restored.release;
  }
  if (file === null) {
    // This database's newest: in a shared folder, another database's backup proves nothing about it.
    const owner = named === null ? null : await backupOwner(named);
    const newest = (await listBackups(backupDir, { owner })).find((entry) => entry.verified);
    if (!newest) throw new GuardError('USAGE', `no verified backup${owner ? ` of ${owner.name}` : ''} in ${backupDir} to drill with`);
    file = newest.path;
  }
  const manifest = await readManifest(file).catch(() => null);
  const restorePoint = manifest?.restorePoint ? { ...manifest, restorePoint: manifest.restorePoint } : null;
  if (restorePoint && options.database === undefined)
    throw new GuardError('USAGE', `${file} is a restore point: its drill needs --db (DATABASE_URL) on the server it was taken on`);
  const scratch = await mkdtemp(path.join(options.scratchDir ?? tmpdir(), 'migrate-guard-drill-'));
  const startedAt = performance.now();
  let proof: RestoreProof | null = null;
  let error: string | null = null;
  try {
    if (restorePoint) {
      // A point in the server's archive: the archive tool restores it into a scratch data directory.
      const { drillRestorePoint } = await import('./drill-restore-point.ts');
      proof = await drillRestorePoint({ live: named!, manifest: restorePoint, config: options.config, folder: scratch, emit });
    } else {
      emit({ type: 'step', message: `drill: restoring ${file} into a scratch database` });
      // Without a database: a scratch file of the engine that takes paths.
      const live = named ?? (await engineFor(path.join(scratch, 'drill.db'), { stateDir: backupDir }));
      const target = await live.scratch(scratch);
      try {
        const engine = target.engine;
        const applied = recordedMigrations(engine);
        const prepared = await prepareBackup(engine, applied, file);
        try {
          proof = await restoreStrictly({ engine, applied, backup: prepared, smoke: options.config.checks.smoke, emit, integrity: 'full' });
        } finally {
          await prepared.release();
        }
      } finally {
        await target.drop();
      }
    }
  } catch (caught) {
    // Still a failed drill (exit 4: recoverability was not shown), but one that says where to look.
    error = isDiskFull(caught, engineDiskFull)
      ? `out of disk space during the drill (${messageOf(caught)}): free space in ${path.dirname(scratch)} (TMPDIR; on PostgreSQL, the server's), then drill again`
      : messageOf(caught);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await releaseArchive?.();
  }
  const restoreMs = Math.round(performance.now() - startedAt);
  await recordJob(backupDir, 'drill', { file, startedAt, error, database: manifest?.source ?? null });
  return {
    command: 'drill',
    ok: error === null,
    exitCode: error === null ? 0 : 4,
    backup: file,
    restoreMs,
    objectiveMs: RESTORE_OBJECTIVE_MS,
    proof,
    error,
  };
}
