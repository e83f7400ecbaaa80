import { GuardError } from '../errors.ts';
import { describeBlocker } from '../migrator/lock-retry.ts';
import { formatSeconds } from '../units.ts';
import { makePrivateDir } from '../fs/file-mode.ts';
import { checkFreeSpace } from '../fs/free-space.ts';
import type { AppliedMigration } from '../history/contract.ts';
import type { MigrationFile } from '../migrator/migration-files.ts';
import type { Plan } from './plan.ts';
import { preflightBackupMethod } from './backup-method.ts';
import { assertProjectConnectionSafe } from './project-connection.ts';
import type { Run } from './run.ts';

/**
 * Everything that must hold before a rollout touches anything; each failure refuses (exit 1).
 * The database's health is not read here: the pre-rollout backup is a page-for-page copy that gets
 * the full integrity check before anything is committed, a stronger proof than a quick check
 * here (1.5 s per GB) would give, and a copy that fails it tells whether the database itself is
 * damaged (see `takeRolloutBackup`).
 */
export async function preflight(run: Run, plan: Plan): Promise<void> {
  const { engine } = run;
  run.emit({ type: 'step', message: `${plan.pending.length} ${run.direction.planned}; running preflight checks` });
  await makePrivateDir(run.backupDir).catch((error: unknown) => {
    throw new GuardError('PREFLIGHT_FAILED', `backup folder ${run.backupDir} cannot be created: ${(error as Error).message}`, {
      cause: error,
    });
  });
  // A restore point's data stays on the server: the backup folder gets its small entry only.
  const size = run.config.backups.method === 'restore-point' ? 0 : await engine.size();
  const space = await checkFreeSpace(run.backupDir, size, run.config.thresholds.freeSpaceFactor);
  if (space.problem !== null) throw new GuardError('PREFLIGHT_FAILED', `${space.problem}; free space or set --backup-dir`);
  if (plan.files !== null) assertAppliedUnchanged(plan.applied, plan.files, run.source.kind === 'folder' && run.source.validateApplied);
  await assertProjectConnectionSafe(run);
  await preflightBackupMethod(run, plan);
  await warnLongTransactions(run, plan);
}

/**
 * Transactions open longer than `locks.longTransaction` (PostgreSQL): not a refusal, since most
 * end on their own, but the reason a migration may wait on its lock timeout, said before it does.
 */
async function warnLongTransactions(run: Run, plan: Plan): Promise<void> {
  const { longTransaction, timeout, budget } = run.config.locks;
  const open = (await run.engine.longTransactions?.(run.engine.reader(plan.root), longTransaction).catch(() => [])) ?? [];
  if (open.length === 0) return;
  const wait =
    timeout > 0
      ? `a migration that needs one of their tables waits ${formatSeconds(timeout)} at a time and tries again for up to ${formatSeconds(budget)}`
      : 'a migration that needs one of their tables waits until they end (locks.timeout is 0)';
  run.emit({
    type: 'warning',
    message: `${open.length} transaction(s) open longer than ${formatSeconds(longTransaction)} on ${run.engine.name}: ${open.map(describeBlocker).join('; ')}; ${wait}`,
  });
}

/**
 * Every applied migration still has its file (unless `requireFiles` is off, as knex's
 * `disableMigrationsListValidation`), with the checksum it had when it ran.
 */
export function assertAppliedUnchanged(applied: readonly AppliedMigration[], files: readonly MigrationFile[], requireFiles = true): void {
  const byName = new Map(files.map((file) => [file.name, file]));
  for (const migration of applied) {
    const file = byName.get(migration.name);
    if (!file) {
      if (!requireFiles) continue;
      throw new GuardError(
        'MIGRATION_CHANGED',
        `applied migration ${migration.name} has no file in the migrations folder; restore the file before migrating`,
      );
    }
    if (migration.checksum !== null && migration.checksum !== file.checksum) {
      throw new GuardError(
        'MIGRATION_CHANGED',
        `applied migration ${migration.name} was edited after it ran (checksum differs); restore the original and put the change in a new migration`,
      );
    }
  }
}
