import { GuardError } from '../errors.ts';
import { isTransactional } from '../migrator/load-script.ts';
import type { Plan } from './plan.ts';
import type { Run } from './run.ts';

/**
 * Preflight of `backups.method: 'restore-point'` (nothing to check for a copy): the run must be one
 * group, since only a transaction's rollback undoes a failure automatically when the backup is a
 * point in the server's archive (restoring one replaces the whole cluster, by hand); then the
 * engine's own checks of its archiving. Each failure is a refusal: nothing was changed.
 */
export async function preflightBackupMethod(run: Run, plan: Plan): Promise<void> {
  if (run.config.backups.method !== 'restore-point') return;
  if (plan.mode !== 'group') throw new GuardError('PREFLIGHT_FAILED', `${await whyNotGrouped(run, plan)}; nothing was changed`);
  await run.engine.restorePoints?.preflight();
}

/** Why this run cannot be one transaction, in the words of the setting or file that decides it. */
async function whyNotGrouped(run: Run, plan: Plan): Promise<string> {
  const method = "backups.method 'restore-point' undoes a failed run only by rolling back its one transaction";
  const pgDump = "run it with backups.method 'pg_dump' (MIGRATE_GUARD_BACKUP_METHOD=pg_dump), whose dump is restored automatically";
  if (run.config.transactions !== 'group')
    return `${method}, and transactions: 'per-migration' commits each migration on its own: set transactions to 'group', or ${pgDump}`;
  if (plan.files === null) return `${method}, and a project Umzug runs its migrations on connections of its own, outside it: ${pgDump}`;
  for (const file of plan.files.filter((candidate) => plan.pending.includes(candidate.name))) {
    if (!(await isTransactional(file)))
      return `${method}, and ${file.name} runs outside a transaction (config.transaction = false: CREATE INDEX CONCURRENTLY and the like), so a failure of it could not be undone: ${pgDump}`;
  }
  return `${method}, and this run cannot be one: ${pgDump}`;
}
