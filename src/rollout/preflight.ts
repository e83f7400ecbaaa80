import { GuardError } from '../errors.ts';
import { makePrivateDir } from '../fs/file-mode.ts';
import { checkFreeSpace } from '../fs/free-space.ts';
import type { AppliedMigration } from '../history/contract.ts';
import type { MigrationFile } from '../migrator/migration-files.ts';
import type { Plan } from './plan.ts';
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
  const space = await checkFreeSpace(run.backupDir, await engine.size(), run.config.thresholds.freeSpaceFactor);
  if (space.problem !== null) throw new GuardError('PREFLIGHT_FAILED', `${space.problem}; free space or set --backup-dir`);
  if (plan.files !== null) assertAppliedUnchanged(plan.applied, plan.files, run.source.kind === 'folder' && run.source.validateApplied);
  await assertProjectConnectionSafe(run);
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
