import { nextBackupPath, startBackup, type PendingBackup } from '../backup/create.ts';
import { GuardError } from '../errors.ts';
import { progressOf } from '../events.ts';
import { recordedMigrations } from '../history/select.ts';
import { formatSeconds } from '../units.ts';
import { lockHistory, type HeldHistoryLock } from './history-lock.ts';
import type { Plan } from './plan.ts';
import { openRunJournal, type RunJournal } from './run-journal.ts';
import { timed, type Run } from './run.ts';
import type { StoppedApp } from './stop-app.ts';
import type { DatabaseFacts } from '../engines/contract.ts';
import { RESTORE_POINT_EXTENSION, startRestorePointBackup } from '../backup/restore-point.ts';

export interface RolloutBackup {
  readonly file: string;
  readonly journal: RunJournal;
  /** Released when the run ends in a known state. */
  readonly historyLock: HeldHistoryLock;
  /**
   * A group, holding its write lock before its first change: brings the proven copy up to what the
   * application committed since it was taken (the pages written; their proof runs beside the
   * migrations and `verified` waits for it). Per-migration runs: nothing to do.
   */
  catchUp(expected: DatabaseFacts, mark: string): Promise<void>;
  /**
   * Resolves once the backup is proven, caught up and in place (a group run commits only then); a
   * backup that fails its proof ends the run as a refusal: nothing was committed.
   */
  verified(): Promise<void>;
  /** Waits for the proof, whatever it says: whether the backup is proven and in place. */
  proven(): Promise<boolean>;
  /** The run ended without needing the backup (a rolled-back group): an unproven copy is dropped. */
  discard(): Promise<void>;
  /** Ends a run that changed nothing with `error`: lock released, journal cleared, app restarted. */
  refuse(error: unknown): Promise<never>;
}

/**
 * The mandatory, verified pre-rollout backup, proven whole before any lock is taken. The journal
 * says where the run is before each step a kill could interrupt: `backing-up` (the next run clears
 * a half-written backup); then, for a group run, `grouped` once the copy is proven (its catch-up
 * happens inside the group, which commits only after it is proven too); otherwise `migrating` once
 * the backup is in place (the next run restores it). Any failure here is a refusal: nothing was
 * changed, and a stopped app is started again.
 */
export async function takeRolloutBackup(run: Run, plan: Plan, app: StoppedApp): Promise<RolloutBackup> {
  const throwIfAborted = () => {
    if (run.signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted before anything was changed');
  };
  const restorePoint = run.config.backups.method === 'restore-point';
  const file = await nextBackupPath(
    run.backupDir,
    restorePoint ? { name: run.engine.name, snapshotExtension: RESTORE_POINT_EXTENSION } : run.engine,
    'pre-rollout',
    new Date(),
    false,
  );
  let journal: RunJournal | null = null;
  let historyLock: HeldHistoryLock | null = null;
  const refuse = async (error: unknown): Promise<never> => {
    // A copy not yet in place is no backup: nothing of it is left (one already in place stays).
    await pending?.discard().catch(() => undefined);
    await historyLock?.release();
    await journal?.abandon();
    await app.restartAfterRefusal();
    // For a rollout, a backup that failed verification is a refusal like any other: nothing changed.
    if (error instanceof GuardError && error.code === 'BACKUP_UNVERIFIED') throw await diagnose(run, error);
    throw error;
  };
  let pending: PendingBackup | undefined;
  let finishing: Promise<unknown> | null = null;
  const finish = () => {
    finishing ??= pending!.finish().then(() => {
      // A restore point's time was counted when it was taken (see catchUp), not up to this commit.
      if (restorePoint) return run.emit({ type: 'step', message: `restore point recorded: ${file}` });
      run.timings.backup = Math.round(performance.now() - backupStarted);
      run.emit({ type: 'step', message: `backup verified in ${formatSeconds(run.timings.backup)}: ${file}` });
    });
    return finishing;
  };
  const backupStarted = performance.now();
  const grouped = plan.mode === 'group';
  try {
    throwIfAborted();
    journal = await openRunJournal(run, file, plan.executedBefore);
    historyLock = await lockHistory(run, plan);
    run.emit({
      type: 'step',
      message: restorePoint ? 'the pre-rollout backup: a restore point, taken as the group begins' : 'taking the pre-rollout backup',
    });
    const started = await timed(run, 'copy', async () =>
      restorePoint
        ? restorePointBackup(run, file)
        : startBackup({
            engine: run.engine,
            applied: recordedMigrations(run.engine),
            backupDir: run.backupDir,
            file,
            kind: 'pre-rollout',
            onProgress: progressOf(run.emit, 'backup'),
            checkpoint: throwIfAborted,
            // A group takes its write lock only once this copy is proven, then brings it up to date.
            follow: grouped,
          }),
    );
    pending = started;
    // The whole proof runs before the migrations take any lock: the application keeps reading and
    // writing meanwhile (issue 18). A group then catches the copy up under its lock (see catchUp).
    if (!restorePoint) {
      run.emit({ type: 'step', message: `proving the backup (checksum, ${run.engine.labels.copyCheck}) while the application runs` });
      run.emit({ type: 'working', label: `proving the backup: sha256 and ${run.engine.labels.copyProof}` });
    }
    await timed(run, 'proof', () => started.proven);
    throwIfAborted();
    if (grouped) {
      run.timings.backup = Math.round(performance.now() - backupStarted);
      await journal.grouping();
    } else {
      await finish();
      throwIfAborted();
      await journal.changing(file);
    }
  } catch (error) {
    // A copy that failed its proof is cleared away and logged as a failed backup; one abandoned
    // for another reason (a signal) is only cleared away.
    const copy = pending;
    if (
      copy &&
      (await copy.proven.then(
        () => false,
        () => true,
      ))
    )
      await copy.finish().catch(() => undefined);
    else await copy?.discard();
    return refuse(error);
  }
  const held = { journal, historyLock };
  const backup: PendingBackup = pending!;
  const verifying = (): Promise<unknown> => finish();
  return {
    file,
    ...held,
    async catchUp(expected, mark) {
      if (!grouped) return;
      const pages = await timed(run, 'catchUp', () => backup.catchUp(expected, mark));
      // A restore point is taken here, as the group begins: that is the whole backup's time.
      if (restorePoint) run.timings.backup = (run.timings.backup ?? 0) + (run.timings.catchUp ?? 0);
      else run.emit({ type: 'step', message: `caught the backup up with what the application committed meanwhile: ${pages} page(s)` });
    },
    verified: () => verifying().then(() => undefined, refuse),
    proven: () =>
      verifying().then(
        () => true,
        () => false,
      ),
    discard: async () => {
      await backup.discard();
      await finishing?.catch(() => undefined);
    },
    refuse,
  };
}

/**
 * A copy that fails its proof is either a damaged database (the copy has its pages) or a copy that
 * went bad on its way to disk. The database's own full check tells which, so the refusal names
 * the way out: repair the database, or look at the backup folder's disk.
 */
async function diagnose(run: Run, error: GuardError): Promise<GuardError> {
  const { engine } = run;
  const health = await engine
    .read('readonly', (reader) => engine.integrity(reader, 'full'))
    .catch((caught: unknown) => ({ ok: false, detail: (caught as Error).message }));
  if (!health.ok) {
    return new GuardError(
      'PREFLIGHT_FAILED',
      `database ${engine.name} fails ${engine.labels.fullCheck} (${health.detail}); nothing was changed: repair it or restore a backup before migrating`,
      { cause: error },
    );
  }
  return new GuardError('BACKUP_FAILED', `${error.message}; nothing was changed`, { cause: error });
}

/**
 * `backups.method: 'restore-point'`: the point is taken when the group calls catchUp (its
 * transaction open, before the first change); `backups.verifyCommand` runs as a hook once its
 * segment is archived, and a failure of it fails the backup (the group rolls back: nothing changed).
 */
function restorePointBackup(run: Run, file: string): PendingBackup {
  const { backups } = run.config;
  return startRestorePointBackup({
    engine: run.engine,
    backupDir: run.backupDir,
    kind: 'pre-rollout',
    file,
    archiveTimeoutMs: backups.archiveTimeoutMs,
    verifyCommand: backups.verifyCommand,
    verify:
      backups.verifyCommand === null
        ? null
        : async (point) => {
            run.emit({ type: 'working', label: `verifying the archive: ${backups.verifyCommand}` });
            const result = await run.hooks.run('verifyCommand', {
              MIGRATE_GUARD_RESTORE_POINT: point.name,
              MIGRATE_GUARD_RESTORE_LSN: point.lsn,
              MIGRATE_GUARD_WAL_SEGMENT: point.segment,
            });
            if (result !== null && !result.ok)
              throw new GuardError(
                'BACKUP_FAILED',
                `backups.verifyCommand failed (exit ${result.exitCode ?? 'none'}) for restore point ${point.name}: ${result.output.split('\n').slice(-3).join(' ') || 'no output'}; nothing was changed`,
              );
          },
    signal: run.signal,
    onStep: (message) => run.emit({ type: 'step', message }),
  });
}
