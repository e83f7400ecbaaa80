import { createBackup, nextBackupPath } from '../backup/create.ts';
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
}

/**
 * The mandatory, verified pre-rollout backup. The journal says where the run is before each step
 * a kill could interrupt: `backing-up` (the next run clears a half-written backup), then, once the
 * backup is verified, `migrating` (the next run restores it). Any failure here is a refusal:
 * nothing was changed, and a stopped app is started again.
 */
export async function takeRolloutBackup(run: Run, plan: Plan, app: StoppedApp): Promise<RolloutBackup> {
  const throwIfAborted = () => {
    if (run.signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted before anything was changed');
  };
  const file = await nextBackupPath(run.backupDir, run.engine.name, 'pre-rollout', new Date(), false);
  let journal: RunJournal | null = null;
  let historyLock: HeldHistoryLock | null = null;
  try {
    throwIfAborted();
    journal = await openRunJournal(run, file);
    historyLock = await lockHistory(run, plan);
    run.emit({ type: 'step', message: 'taking the pre-rollout backup' });
    await timed(run, 'backup', () =>
      createBackup({
        engine: run.engine,
        applied: recordedMigrations(run.engine),
        backupDir: run.backupDir,
        file,
        kind: 'pre-rollout',
        onProgress: progressOf(run.emit, 'backup'),
        checkpoint: throwIfAborted,
        onVerify: () => run.emit({ type: 'step', message: 'verifying the backup (checksum, integrity_check of the whole copy)' }),
      }),
    );
    throwIfAborted();
    await journal.changing(file);
  } catch (error) {
    await historyLock?.release();
    await journal?.abandon();
    await app.restartAfterRefusal();
    // For a rollout, a backup that failed verification is a refusal like any other: nothing changed.
    if (error instanceof GuardError && error.code === 'BACKUP_UNVERIFIED') {
      throw new GuardError('BACKUP_FAILED', `${error.message}; the rollout did not start`, { cause: error });
    }
    throw error;
  }
  run.emit({ type: 'step', message: `backup verified in ${formatSeconds(run.timings.backup)}: ${file}` });
  return { file, journal, historyLock };
}
