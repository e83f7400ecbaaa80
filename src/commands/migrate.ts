import { runRollout } from '../rollout/runbook.ts';
import type { MigrateReport } from '../rollout/report.ts';
import type { MigrateOptions } from '../rollout/run.ts';

export type { MigrateOptions } from '../rollout/run.ts';
export type { MigrateReport, MigrationOutcome, MigrationStatus, RunFailure } from '../rollout/report.ts';

/**
 * `migrate` and `down`: the guarded rollout (see `rollout/runbook.ts`).
 * Refusals before any change throw a GuardError (exit 1); everything after the backup ends in a
 * report whose exit code says whether the database was restored (2) or needs a human (3).
 */
export function runMigrate(options: MigrateOptions): Promise<MigrateReport> {
  return runRollout(options);
}
