import { stat } from 'node:fs/promises';
import path from 'node:path';
import { recordJob } from '../backup/event-log.ts';
import { backupOwner, refuseOtherDatabase, type BackupOwner } from '../backup/identity.ts';
import { listBackups, type BackupEntry } from '../backup/store.ts';
import { foreignKeyCheck } from '../checks/foreign-keys.ts';
import { smokeCheck } from '../checks/smoke.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine, Progress, EngineKind, PointInTime } from '../engines/contract.ts';
import { engineFor } from '../engines/select.ts';
import { GuardError, messageOf, type ExitCode } from '../errors.ts';
import { progressOf, waitsOf, type EventListener } from '../events.ts';
import { recordedMigrations } from '../history/select.ts';
import { hookRunner } from '../hooks/hook-runner.ts';
import type { HookResult } from '../hooks/run-hook.ts';
import { keepPreRestoreCopy } from '../restore/pre-restore-copy.ts';
import { prepareBackup } from '../restore/prepare.ts';
import { restoreStrictly, type RestoreProof } from '../restore/restore-full.ts';
import { formatBytes } from '../units.ts';

/** Which backup: a named one, the newest verified one, or the newest verified at or before a time. */
export type RestoreTarget = { readonly backup: string } | { readonly latest: true } | { readonly at: Date };

export interface RestoreCommandOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  readonly target: RestoreTarget;
  /** Restore a backup taken from another database (`--from-other-database`); refused otherwise. */
  readonly fromOtherDatabase?: boolean;
  /** Asked with what will be replaced by what; false cancels with nothing changed. */
  readonly confirm?: (summary: string) => Promise<boolean>;
  readonly onEvent?: EventListener;
  readonly cwd?: string;
}

export interface RestoreReport {
  readonly command: 'restore';
  readonly ok: true;
  readonly exitCode: ExitCode;
  readonly database: string;
  readonly backup: string;
  /** For --to: how far before the target the chosen backup was taken (data that will be missing). */
  readonly gapSeconds: number | null;
  /** `archive` when Litestream's WAL archive restored to the second; `backup` otherwise. */
  readonly source: 'backup' | 'archive';
  /** The point in time the database now reflects, when known. */
  readonly recoveryPoint: string | null;
  readonly preRestoreCopy: string | null;
  readonly proof: RestoreProof;
  readonly hooks: readonly HookResult[];
  /** The measured recovery time. */
  readonly durationMs: number;
}

/**
 * The runbook's full restore: choose and verify the backup, confirm, stop the app, keep the current
 * database, restore through the online backup API, prove the result, start the app.
 */
export async function runRestore(options: RestoreCommandOptions): Promise<RestoreReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const startedAt = performance.now();
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  const database = engine.name;
  const applied = recordedMigrations(engine);
  const backupDir = path.resolve(options.backupDir);
  const owner = await backupOwner(engine);
  const chosen = await chooseBackup(options.target, backupDir, engine, owner, options.config, emit);
  const { file, gapSeconds } = chosen;
  // A named backup of another database (a shared backup folder, a wrong name) is refused before
  // anything reads it further: restoring it would replace this database with another's data.
  if (chosen.source === 'backup') {
    await refuseOtherDatabase(file, owner, options.fromOtherDatabase === true, emit).catch(async (error: unknown) => {
      await chosen.release();
      throw error;
    });
  }

  // Verify the backup before anything else.
  const prepared = await prepareBackup(engine, applied, file).catch(async (error: unknown) => {
    await chosen.release();
    throw error;
  });
  try {
    // The strict checks a restore must pass, run on the source first: a backup (or an archive
    // point) that would fail them is refused before the live database is touched. The full
    // integrity check too: a manifest that matches proves only that the bytes are the ones it
    // describes, and whoever can write the backup folder can write a manifest, checksums and all.
    await engine.readSnapshot(prepared.source, async (reader) => {
      if (prepared.manifest !== null) {
        const integrity = await engine.integrity(reader, 'full');
        if (!integrity.ok)
          throw new GuardError('BACKUP_INVALID', `${file} fails the full integrity check (${integrity.detail}); nothing was changed`);
      }
      const foreignKeys = await foreignKeyCheck({ engine, reader });
      if (!foreignKeys.ok)
        throw new GuardError('BACKUP_INVALID', `${file} has foreign-key violations (${foreignKeys.detail}); nothing was changed`);
      const smoke = await smokeCheck({ engine, reader }, options.config.checks.smoke);
      if (!smoke.ok) throw new GuardError('BACKUP_INVALID', `smoke queries fail on ${file} (${smoke.detail}); nothing was changed`);
    });

    // Confirm, saying what will be replaced by what.
    const exists = (await engine.probe()) !== 'missing';
    const current = exists
      ? `${database} (${formatBytes(await engine.size())}${await lastChanged(database)})`
      : `${database} (does not exist yet)`;
    const manifest = prepared.manifest;
    const summary = [
      `replace ${current}`,
      `with ${file}${manifest ? ` (${manifest.kind}, taken ${manifest.createdAt}, ${manifest.appliedMigrations.length} migrations applied${manifest.appliedMigrations.length ? `, last ${manifest.appliedMigrations.at(-1)}` : ''})` : ` (no manifest; ${engine.labels.proof} ok)`}`,
    ].join('\n');
    if (options.confirm && !(await options.confirm(summary))) {
      throw new GuardError('USAGE', 'restore cancelled; nothing was changed');
    }

    const lock = await engine.lock('restore');
    await engine.settle({ write: true, onWait: waitsOf(emit) }).catch(async (error: unknown) => {
      await lock.release().catch(() => undefined);
      throw error;
    });
    const hooks = hookRunner({
      hooks: options.config.hooks,
      cwd: options.cwd ?? process.cwd(),
      env: { MIGRATE_GUARD_DATABASE: database, MIGRATE_GUARD_BACKUP: file },
      emit,
    });
    try {
      // Stop the app.
      const before = await hooks.run('beforeRestore');
      if (before && !before.ok) {
        throw new GuardError('HOOK_FAILED', `beforeRestore hook failed (exit ${before.exitCode}); nothing was changed`);
      }
      // Keep what is there now.
      // (taken once the restore holds the write lock: no commit falls between the copy and the restore)
      let preRestoreCopy: string | null = null;
      const keepCurrent = async (snapshot: (target: string, onProgress?: Progress) => Promise<void>) => {
        preRestoreCopy = await keepPreRestoreCopy(engine, snapshot, progressOf(emit, 'backup'));
        emit({ type: 'step', message: `kept the current database as ${preRestoreCopy}` });
        emit({ type: 'step', message: `restoring ${file}` });
      };
      // Restore into the live database and prove it.
      if (!exists) emit({ type: 'step', message: `restoring ${file}` });
      let proof: RestoreProof;
      try {
        proof = await restoreStrictly({
          engine,
          applied,
          backup: prepared,
          smoke: options.config.checks.smoke,
          emit,
          ...(exists ? { keepCurrent } : {}),
        });
      } catch (error) {
        await recordJob(backupDir, 'restore', { file, startedAt, error: messageOf(error), database: engine.name });
        const keep = preRestoreCopy ? `; the database as it was is kept in ${preRestoreCopy}` : '';
        if (error instanceof GuardError && error.code === 'RESTORE_FAILED') {
          throw new GuardError('RESTORE_FAILED', `${error.message}; fix the cause (free space) and run the restore again`, {
            cause: error,
          });
        }
        throw new GuardError('RECOVERY_FAILED', `${messageOf(error)}${keep}`, { cause: error, exitCode: 3, backup: file });
      }
      // Start the app.
      await hooks.run('afterRestore');
      const durationMs = Math.round(performance.now() - startedAt);
      await recordJob(backupDir, 'restore', { file, startedAt, error: null, database: engine.name });
      return {
        command: 'restore',
        ok: true,
        exitCode: 0,
        database,
        backup: file,
        gapSeconds,
        source: chosen.source,
        recoveryPoint: chosen.recoveryPoint,
        preRestoreCopy,
        proof,
        hooks: hooks.results,
        durationMs,
      };
    } finally {
      await lock.release().catch(() => undefined);
    }
  } finally {
    await prepared.release();
    await chosen.release();
  }
}

interface Chosen {
  readonly file: string;
  readonly gapSeconds: number | null;
  readonly source: 'backup' | 'archive';
  readonly recoveryPoint: string | null;
  release(): Promise<void>;
}

async function chooseBackup(
  target: RestoreTarget,
  backupDir: string,
  engine: Pick<Engine, 'name' | 'pointInTimeAdvice' | 'pointInTime'>,
  owner: BackupOwner,
  config: ResolvedConfig,
  emit: EventListener,
): Promise<Chosen> {
  const database = engine.name;
  const nothing = async () => undefined;
  if ('backup' in target) return { file: target.backup, gapSeconds: null, source: 'backup', recoveryPoint: null, release: nothing };
  // To the second needs a WAL archive; where the engine has none of ours, the newest backup before the time is what there is.
  if ('at' in target && engine.pointInTimeAdvice !== null) emit({ type: 'warning', message: engine.pointInTimeAdvice });
  if ('at' in target && engine.pointInTime && (await engine.pointInTime.has(backupDir, config.archive))) {
    const fromArchive = await restoreFromArchive(engine.pointInTime, backupDir, config, target.at, emit);
    if (fromArchive) return fromArchive;
  }
  // This database's backups only: the newest in a shared folder may be another database's.
  const verified = (await listBackups(backupDir, { owner })).filter((entry) => entry.verified);
  if ('latest' in target) {
    const newest = verified[0];
    if (!newest) throw new GuardError('USAGE', `no verified backup of ${database} in ${backupDir}`);
    emit({ type: 'step', message: `newest verified backup: ${newest.path} (${newest.kind}, ${newest.createdAt})` });
    return { file: newest.path, gapSeconds: null, source: 'backup', recoveryPoint: newest.createdAt, release: nothing };
  }
  const chosen: BackupEntry | undefined = verified.find((entry) => Date.parse(entry.createdAt) <= target.at.getTime());
  if (!chosen) {
    throw new GuardError(
      'USAGE',
      `no verified backup taken at or before ${target.at.toISOString()} (of ${database}); the oldest is ${verified.at(-1)?.createdAt ?? 'none'}`,
    );
  }
  const gapSeconds = Math.round((target.at.getTime() - Date.parse(chosen.createdAt)) / 1000);
  emit({
    type: 'step',
    message: `chose ${chosen.path} (${chosen.kind}, ${chosen.createdAt}): ${formatGap(gapSeconds)} before ${target.at.toISOString()}; changes after it are not in the backup`,
  });
  return { file: chosen.path, gapSeconds, source: 'backup', recoveryPoint: chosen.createdAt, release: nothing };
}

/** The WAL archive at a second; null when it does not cover it (the caller falls back and says so). */
async function restoreFromArchive(
  pointInTime: PointInTime,
  backupDir: string,
  config: ResolvedConfig,
  at: Date,
  emit: EventListener,
): Promise<Chosen | null> {
  const restored = await pointInTime.restoreToFile(backupDir, config.archive, at);
  if (!restored.ok) {
    emit({
      type: 'warning',
      message: `the WAL archive does not cover ${restored.timestamp} (${restored.reason}); falling back to the newest backup before it`,
    });
    return null;
  }
  emit({ type: 'step', message: `restored the WAL archive to ${restored.timestamp} into a temporary file` });
  return { file: restored.file, gapSeconds: 0, source: 'archive', recoveryPoint: restored.timestamp, release: restored.release };
}
function formatGap(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** `YYYY-MM-DD HH:MM:SS` is UTC (the contract); ISO 8601 with an offset is taken as written. */
export function parseRestoreTime(text: string): Date {
  const plain = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(text.trim());
  const at = plain
    ? new Date(`${plain[1]}T${plain[2]}Z`)
    : /([zZ]|[+-]\d{2}:?\d{2})$/.test(text.trim())
      ? new Date(text)
      : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) {
    throw new GuardError('USAGE', `--to "${text}": give "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601 with an offset`);
  }
  return at;
}

/** `, last changed <time>` for a database that is a file; nothing for one on a server. */
async function lastChanged(database: string): Promise<string> {
  const changed = await stat(database).then(
    (info) => info.mtime.toISOString(),
    () => null,
  );
  return changed === null ? '' : `, last changed ${changed}`;
}
