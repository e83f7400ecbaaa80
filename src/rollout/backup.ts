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

export interface RolloutBackup {
  readonly file: string;
  readonly journal: RunJournal;
  /** Released when the run ends in a known state. */
  readonly historyLock: HeldHistoryLock;
  /**
   * Resolves once the backup is proven and in place (a group run commits only then); a backup
   * that fails its proof ends the run as a refusal: nothing was committed.
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
 * The mandatory, verified pre-rollout backup. The journal says where the run is before each step
 * a kill could interrupt: `backing-up` (the next run clears a half-written backup); then, for a
 * group run, `grouped` as soon as the copy is written, its proof going on beside the migrations;
 * otherwise `migrating` once the backup is proven (the next run restores it). Any failure here
 * is a refusal: nothing was changed, and a stopped app is started again.
 */
export async function takeRolloutBackup(run: Run, plan: Plan, app: StoppedApp): Promise<RolloutBackup> {
  const throwIfAborted = () => {
    if (run.signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted before anything was changed');
  };
  const file = await nextBackupPath(run.backupDir, run.engine, 'pre-rollout', new Date(), false);
  let journal: RunJournal | null = null;
  let historyLock: HeldHistoryLock | null = null;
  const refuse = async (error: unknown): Promise<never> => {
    await historyLock?.release();
    await journal?.abandon();
    await app.restartAfterRefusal();
    // For a rollout, a backup that failed verification is a refusal like any other: nothing changed.
    if (error instanceof GuardError && error.code === 'BACKUP_UNVERIFIED') throw await diagnose(run, error);
    throw error;
  };
  let pending: PendingBackup;
  let verifying: Promise<void>;
  const backupStarted = performance.now();
  try {
    throwIfAborted();
    journal = await openRunJournal(run, file, plan.executedBefore);
    historyLock = await lockHistory(run, plan);
    run.emit({ type: 'step', message: 'taking the pre-rollout backup' });
    pending = await timed(run, 'copy', () =>
      startBackup({
        engine: run.engine,
        applied: recordedMigrations(run.engine),
        backupDir: run.backupDir,
        file,
        kind: 'pre-rollout',
        onProgress: progressOf(run.emit, 'backup'),
        checkpoint: throwIfAborted,
      }),
    );
    run.emit({
      type: 'step',
      message: `proving the backup (checksum, integrity_check of the whole copy)${plan.mode === 'group' ? ' while the migrations run' : ''}`,
    });
    run.emit({ type: 'working', label: 'proving the backup: sha256 and integrity_check of every page of the copy' });
    verifying = timed(run, 'proof', () => pending.finish()).then(() => {
      run.timings.backup = Math.round(performance.now() - backupStarted);
      run.emit({ type: 'step', message: `backup verified in ${formatSeconds(run.timings.backup)}: ${file}` });
    });
    verifying.catch(() => undefined);
    if (plan.mode === 'group') {
      await journal.grouping();
    } else {
      await verifying;
      throwIfAborted();
      await journal.changing(file);
    }
  } catch (error) {
    return refuse(error);
  }
  const held = { journal, historyLock };
  return {
    file,
    ...held,
    verified: () => verifying.catch(refuse),
    proven: () =>
      verifying.then(
        () => true,
        () => false,
      ),
    discard: async () => {
      await pending.discard();
      await verifying.catch(() => undefined);
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
      `database ${engine.name} fails integrity_check (${health.detail}); nothing was changed: repair it or restore a backup before migrating`,
      { cause: error },
    );
  }
  return new GuardError('BACKUP_FAILED', `${error.message}; nothing was changed`, { cause: error });
}
