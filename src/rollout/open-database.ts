import { GuardError } from '../errors.ts';
import type { Run } from './run.ts';

/**
 * The database must be this engine's (anything else is refused untouched). A missing one is
 * created only when asked (the CLI asks outside production): a typo in DATABASE_URL on a
 * production host must not quietly migrate an empty new database.
 */
export async function openDatabase(run: Run): Promise<void> {
  if (!(await databaseMissing(run))) return;
  await run.engine.create();
  run.emit({ type: 'step', message: `created a new database ${run.engine.name}` });
}

/** Whether the database is still to be created; refuses when it may not be. Creates nothing. */
export async function databaseMissing(run: Run): Promise<boolean> {
  if ((await run.engine.probe()) !== 'missing') return false;
  if (!run.createIfMissing) {
    throw new GuardError(
      'DATABASE_MISSING',
      `database ${run.engine.name} does not exist; check --db / DATABASE_URL, or pass --create to start a new one`,
    );
  }
  return true;
}
