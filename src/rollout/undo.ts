import { messageOf } from '../errors.ts';
import { progressOf } from '../events.ts';
import { recordedMigrations } from '../history/select.ts';
import type { Progress } from '../engines/contract.ts';
import { keepPreRestoreCopy } from '../restore/pre-restore-copy.ts';
import { prepareBackup } from '../restore/prepare.ts';
import { restoreFull } from '../restore/restore-full.ts';
import { formatSeconds } from '../units.ts';
import type { RolloutBackup } from './backup.ts';
import type { Plan } from './plan.ts';
import { failureHeadline, type RunFailure } from './report.ts';
import { timed, type Run } from './run.ts';

/**
 * Something failed after the database changed: put the pre-rollout backup back and prove it.
 * Returns why the restore failed (null when it is proven), and the pre-restore copy: the
 * database as the failed run left it, taken under the restore's write lock, so rows an
 * application committed during the run are kept there rather than lost. Only a proven restore
 * retires the journal; otherwise the next run tries again.
 */
export async function restoreRolloutBackup(
  run: Run,
  plan: Plan,
  backup: RolloutBackup,
  failure: RunFailure,
): Promise<{ readonly error: string | null; readonly preRestoreCopy: string | null }> {
  run.emit({ type: 'warning', message: failureHeadline(failure) });
  run.emit({ type: 'step', message: `restoring the pre-rollout backup ${backup.file}` });
  await backup.journal.note('restoring');
  const applied = recordedMigrations(run.engine);
  let preRestoreCopy: string | null = null;
  const keepCurrent = async (snapshot: (target: string, onProgress?: Progress) => Promise<void>) => {
    try {
      preRestoreCopy = await keepPreRestoreCopy(run.engine, snapshot, progressOf(run.emit, 'backup'));
      run.emit({ type: 'step', message: `kept the database as the run left it: ${preRestoreCopy}` });
    } catch (error) {
      // Undoing the run matters more than keeping a copy of it (a full disk, say).
      run.emit({
        type: 'warning',
        message: `could not keep a copy of the database as the run left it (${messageOf(error)}); restoring anyway`,
      });
    }
  };
  try {
    await timed(run, 'restore', async () => {
      const prepared = await prepareBackup(run.engine, applied, backup.file);
      try {
        await restoreFull({
          engine: run.engine,
          applied,
          backup: prepared,
          keepCurrent,
          onProgress: progressOf(run.emit, 'restore'),
          onProve: () =>
            run.emit({
              type: 'working',
              label: `proving the restore: ${run.engine.labels.quickCheck}, schema, row counts, applied migrations`,
            }),
        });
      } finally {
        await prepared.release();
      }
    });
  } catch (error) {
    return { error: messageOf(error), preRestoreCopy };
  }
  run.emit({
    type: 'step',
    message: `restore verified in ${formatSeconds(run.timings.restore)}: the database is back to its pre-rollout state`,
  });
  // A history the restore could not reach (a project Umzug's JSON file) is put back to match.
  await run.history.reconcile?.(plan.executedBefore);
  // The backup was taken with the history marked in use: the restore put the mark back.
  await backup.historyLock.release();
  await backup.journal.retire();
  return { error: null, preRestoreCopy };
}
