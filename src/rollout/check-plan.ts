import { GuardError } from '../errors.ts';
import { readHistory } from '../history/read.ts';
import { checkMigrations } from '../migrator/load-script.ts';
import { listMigrationFiles } from '../migrator/migration-files.ts';
import { readJournal } from './journal.ts';
import { lastBatchOf } from './plan.ts';
import type { Run } from './run.ts';

/**
 * Plan before touching: the migrations this run would run, as the files and the history say now,
 * each loaded and its shape checked (an `up`, or a `down` to revert), before the lock file, a new
 * database, the backup or a transaction exist. A mistake in the project's files is then a refusal
 * that changed nothing and created nothing. (The plan made under the lock checks again: it is the
 * one that runs.)
 *
 * Null when this cannot be known before the lock: a project Umzug (its storage may write when
 * asked what is pending), or an interrupted run whose recovery will change the history first.
 */
export async function planBeforeTouching(
  run: Pick<Run, 'engine' | 'history' | 'source' | 'direction' | 'selection'>,
): Promise<readonly string[] | null> {
  if (run.source.kind !== 'folder') return null;
  const files = await listMigrationFiles(run.source.layout, run.source.naming);
  if ((await readJournal(run.engine)) !== null) return null;
  const applied = await readHistory(run.engine, run.history);
  const executed = applied.map((migration) => migration.name);
  const known = new Set(executed);
  const pending = files.filter((file) => !known.has(file.name)).map((file) => file.name);
  const names = await run.direction.choose({ pending, executed, lastBatch: lastBatchOf(applied) }, files, run.selection);
  try {
    await checkMigrations(
      files.filter((file) => names.includes(file.name)),
      run.direction.name,
    );
  } catch (error) {
    throw error instanceof GuardError ? error.withPending(names) : error;
  }
  return names;
}
