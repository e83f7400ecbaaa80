import { manualRestoreAdvice } from './recover.ts';
import type { ExitCode } from '../errors.ts';
import { pathExists } from '../fs/paths.ts';
import { formatSeconds } from '../units.ts';
import type { ApplyResult } from './apply.ts';
import type { RolloutBackup } from './backup.ts';
import type { CheckOutcome } from './check.ts';
import type { Plan } from './plan.ts';
import type { MigrateReport, RunFailure } from './report.ts';
import { report, type Run } from './run.ts';
import type { Recovery } from './recover.ts';

/** Everything a finished rollout reports from. */
export interface Rollout {
  readonly plan: Plan;
  readonly recovered: Recovery | null;
  readonly backup: RolloutBackup;
  readonly applied: ApplyResult;
  readonly checked: CheckOutcome | null;
}

/** Migrations and checks passed: retire the journal, start the app, report what changed. */
export async function finishRollout(run: Run, rollout: Rollout): Promise<MigrateReport> {
  const { direction } = run;
  await rollout.backup.historyLock.release();
  await rollout.backup.journal.retire();
  run.emit({
    type: 'step',
    message: `${rollout.plan.pending.length} migration(s) ${direction.done} in ${formatSeconds(run.timings.migrations)}; all checks passed in ${formatSeconds(run.timings.checks)}`,
  });
  await run.hooks.run('afterMigrate', { MIGRATE_GUARD_OUTCOME: direction.done, MIGRATE_GUARD_BACKUP: rollout.backup.file });
  return report(run, {
    exitCode: 0,
    [direction.done]: rollout.plan.pending,
    pending: rollout.plan.pending,
    backup: rollout.backup.file,
    checks: rollout.checked?.checks ?? [],
    migrations: rollout.applied.outcomes,
    recovered: rollout.recovered,
  });
}

/**
 * A migration or a check failed and the run was undone (rolled back, or the backup restored):
 * exit 2 when the undo is proven, 3 when not. The alerting hook hears about both; the app is
 * started again only on a database the undo proved.
 */
export async function reportFailure(
  run: Run,
  rollout: Rollout,
  failure: RunFailure,
  undone: { readonly undo: 'rollback' | 'restore'; readonly error: string | null; readonly preRestoreCopy?: string | null },
): Promise<MigrateReport> {
  const restoreError = undone.error;
  const exitCode: ExitCode = restoreError === null ? 2 : 3;
  const env = {
    MIGRATE_GUARD_OUTCOME: exitCode === 2 ? 'restored' : 'restore-failed',
    MIGRATE_GUARD_UNDO: undone.undo,
    MIGRATE_GUARD_EXIT_CODE: String(exitCode),
    MIGRATE_GUARD_BACKUP: rollout.backup.file,
    MIGRATE_GUARD_FAILED_MIGRATION: failure.migration ?? '',
    MIGRATE_GUARD_PHASE: failure.phase,
    MIGRATE_GUARD_ERROR: failure.message,
  };
  await run.hooks.run('onFailure', env);
  if (exitCode === 2) await run.hooks.run('afterMigrate', env);
  return report(run, {
    exitCode,
    pending: rollout.plan.pending,
    // A rolled-back group may have dropped a copy whose proof it did not need to wait for.
    backup: (await pathExists(rollout.backup.file)) ? rollout.backup.file : null,
    restored: exitCode === 2,
    undo: undone.undo,
    failed: failure,
    checks: rollout.checked?.checks ?? [],
    restoreError,
    manualRestore: exitCode === 3 ? manualRestoreAdvice(run.engine, rollout.backup.file) : null,
    preRestoreCopy: undone.preRestoreCopy ?? null,
    recovered: rollout.recovered,
    migrations: rollout.applied.outcomes.map((outcome) =>
      outcome.status === 'applied' || outcome.status === 'reverted' ? { ...outcome, status: 'rolled-back' } : outcome,
    ),
  });
}

/** Nothing to apply or revert: no backup, no hooks. */
export function nothingToDo(run: Run, recovered: Recovery | null, plan: Plan | null): MigrateReport {
  run.emit({ type: 'step', message: run.direction.nothingToDo });
  return report(run, { exitCode: 0, recovered, pending: plan?.pending ?? [] });
}
