import { GuardError, messageOf } from '../errors.ts';
import { applyMigrations } from './apply.ts';
import { takeRolloutBackup } from './backup.ts';
import { checkDatabase } from './check.ts';
import { finishRollout, nothingToDo, reportFailure } from './finish.ts';
import { openGroup } from './group.ts';
import { planBeforeTouching } from './check-plan.ts';
import { databaseMissing, openDatabase } from './open-database.ts';
import { nothingPending, openPlan } from './plan.ts';
import { preflight } from './preflight.ts';
import { recoverInterruptedRun } from './recover.ts';
import { prepareRowsCheck } from './rows.ts';
import type { MigrateReport } from './report.ts';
import { startRun, type MigrateOptions } from './run.ts';
import { stopApp } from './stop-app.ts';
import { restoreRolloutBackup } from './undo.ts';

/**
 * The guarded rollout, as the on-call runbook reads. `down` is the same runbook in the other
 * direction. Each phase is a function of its own; their order is the product's promise:
 *
 *   plan before touching (every migration to run loads and has its up/down) → lock → recover an
 *   interrupted run → plan (nothing pending? done) → preflight → stop the app
 *   → verified pre-rollout backup → apply → checks → done, or restore and prove it → report
 *
 * Refusals before the backup is verified throw a GuardError (exit 1: nothing was changed);
 * everything after it ends in a report whose exit code says whether the database was restored (2)
 * or needs a human (3).
 */
export async function runRollout(options: MigrateOptions): Promise<MigrateReport> {
  const run = await startRun(options);

  // A mistake in the project's files is refused before the lock file, a new database or a backup
  // exists; and a database that does not exist is not created for nothing to run.
  const toRun = await planBeforeTouching(run);
  if ((await databaseMissing(run)) && toRun?.length === 0) return nothingToDo(run, null, null);

  // One run at a time per database.
  const lock = await run.engine.lock(run.direction.command);
  try {
    if (lock.tookOverFrom) run.emit({ type: 'lock-takeover', holder: lock.tookOverFrom });

    // A run that died after changing the database is undone before anything else.
    const recovered = await recoverInterruptedRun(run);
    await openDatabase(run);
    if (await nothingPending(run)) return nothingToDo(run, recovered, null);

    const plan = await openPlan(run);
    try {
      if (plan.pending.length === 0) return nothingToDo(run, recovered, plan);
      await preflight(run, plan);
      const rowsCheck = await prepareRowsCheck(run, plan);
      const app = await stopApp(run);

      // From here on the database may change: the backup and the journal come first. The backup is
      // proven whole while the application still runs; a group then takes its write lock, catches
      // the backup up with what was committed meanwhile, and commits only once that is proven too
      // and every migration and check passed.
      const backup = await takeRolloutBackup(run, plan, app);
      const group = await openGroup(run, plan, backup);
      const rows = (await rowsCheck?.begin(group)) ?? null; // every table's rows as the migrations begin
      const applied = await applyMigrations(run, plan, backup);
      const ran = applied.outcomes.filter((outcome) => outcome.status === run.direction.done).map((outcome) => outcome.name);
      const checked = applied.failure
        ? null
        : await checkDatabase(run, plan, backup.journal, applied.written, rows && { watch: rows, ran });
      const ended = await group?.end(applied.failure ?? checked?.failure ?? null);
      const rollout = { plan, recovered, backup, applied, checked };
      await plan.close(); // the app may start, or the restore run, on a database we no longer hold

      const failure = ended ? ended.failure : (applied.failure ?? checked?.failure ?? null);
      if (failure === null) return await finishRollout(run, rollout);
      if (ended) return await reportFailure(run, rollout, failure, { undo: 'rollback', error: ended.undoError });
      const restored = await restoreRolloutBackup(run, plan, backup, failure);
      return await reportFailure(run, rollout, failure, { undo: 'restore', ...restored });
    } catch (error) {
      // A refusal once the plan is known says what was pending, as a report would.
      throw error instanceof GuardError ? error.withPending(plan.pending) : error;
    } finally {
      await plan.close();
    }
  } finally {
    // The kernel drops the lock when this process ends anyway; never let this hide the outcome.
    await lock
      .release()
      .catch((error: unknown) => run.emit({ type: 'warning', message: `could not release the run lock cleanly: ${messageOf(error)}` }));
  }
}
