import type { Knex } from 'knex';
import { compareFacts, compareRestored } from '../backup/compare-facts.ts';
import type { DatabaseFacts } from '../engines/contract.ts';
import { messageOf } from '../errors.ts';
import { recordedMigrations } from '../history/select.ts';
import { formatSeconds } from '../units.ts';
import type { RolloutBackup } from './backup.ts';
import type { Plan } from './plan.ts';
import { failureHeadline, type RunFailure } from './report.ts';
import { timed, type Run } from './run.ts';

/** How a group run ended: the failure (the run's, or its commit's) and, after a rollback, whether it was proven. */
export interface GroupEnd {
  readonly failure: RunFailure | null;
  /** Why the rolled-back database could not be proven as it was (null when it was, or on commit). */
  readonly undoError: string | null;
}

export interface Group {
  /** The database as the group began, read inside it (the rows check starts from its row counts). */
  readonly before: DatabaseFacts;
  /**
   * No failure: waits for the backup's proof, then commits (a backup that fails its proof rolls
   * the group back and refuses: nothing was committed). A failure: rolls back, and proves the
   * database is what it was when the group began.
   */
  end(failure: RunFailure | null): Promise<GroupEnd>;
}

/**
 * Opens the group's one transaction (a per-migration run has none: null), and reads, inside it,
 * the facts a rollback must bring back: schema, row counts, applied migrations.
 */
export async function openGroup(run: Run, plan: Plan, backup: RolloutBackup): Promise<Group | null> {
  if (plan.mode !== 'group') return null;
  await plan.executor.beginGroup();
  // Read before the facts: a commit of another session's in between shows as one (see rollBack).
  const mark = await run.engine.commitMark(run.engine.reader(plan.executor.reads));
  const before = await factsOf(run, plan);
  const provenBack = (reads: Knex) => proveRolledBack(run, reads, before, mark);
  // Under the lock, before the first change: the backup gets what was committed while it was proven.
  try {
    await backup.catchUp(before, mark);
  } catch (error) {
    await plan.executor.rollbackGroup(async () => undefined).catch(() => undefined);
    await backup.discard().catch(() => undefined);
    return backup.refuse(error);
  }
  return {
    before,
    async end(failure) {
      if (failure === null) {
        try {
          run.emit({ type: 'working', label: 'waiting for the caught-up backup to be proven before committing' });
          await backup.verified();
        } catch (error) {
          await plan.executor.rollbackGroup(async () => undefined).catch(() => undefined);
          return backup.refuse(error);
        }
        try {
          await timed(run, 'commit', () => plan.executor.commitGroup());
          return { failure: null, undoError: null };
        } catch (error) {
          // A COMMIT that fails leaves the transaction open or already undone: undo it either way.
          return rollBack({ migration: null, phase: 'commit', message: messageOf(error) }, false);
        }
      }
      return rollBack(failure, plan.executor.grouped);
    },
  };

  async function rollBack(failure: RunFailure, open: boolean): Promise<GroupEnd> {
    run.emit({ type: 'warning', message: failureHeadline(failure) });
    run.emit({ type: 'step', message: 'rolling back: nothing the run did is kept' });
    let moved: readonly string[] = [];
    try {
      await timed(run, 'rollback', async () => {
        // Proven inside the transaction, before it lets go of the write lock: rows the application
        // commits right after are not the run's (and would not be a failed rollback).
        const proven = open ? await plan.executor.rollbackGroup((reads) => provenBack(reads)) : await provenBack(plan.executor.reads);
        moved = proven.moved;
      });
    } catch (error) {
      // The database is not what it was: the backup is the way back, so it is kept, proven, and
      // the journal says so (the next run restores it; the report names it for a human).
      if (await backup.proven()) await backup.journal.changing(backup.file).catch(() => undefined);
      return { failure, undoError: messageOf(error) };
    }
    run.emit({
      type: 'step',
      message:
        moved.length === 0
          ? `rolled back in ${formatSeconds(run.timings.rollback)}; schema, row counts and applied migrations are as before the run`
          : `rolled back in ${formatSeconds(run.timings.rollback)}; schema and applied migrations are as before the run; row counts moved with other sessions' commits while the run's transaction was open (${moved.join('; ')}), and the run's own writes went with its transaction`,
    });
    // Nothing to restore from: a copy not proven yet is not worth the wait (a proven one stays).
    await backup.discard();
    await backup.historyLock.release();
    await backup.journal.retire();
    return { failure, undoError: null };
  }
}

/**
 * Schema and applied migrations must be exactly as before. Row counts too, unless another session
 * committed while the transaction was open (PostgreSQL: the application keeps writing; SQLite's
 * group holds the write lock, so there nobody can): then the tables whose counts moved are named
 * (`moved`), since they cannot be told apart from the application's own rows.
 */
async function proveRolledBack(run: Run, reads: Knex, before: DatabaseFacts, mark: string): Promise<{ moved: string[] }> {
  const after = await factsIn(run, reads);
  const structure = compareRestored({ ...before, tables: {} }, { ...after, tables: {} });
  const counts = compareFacts({ schemaHash: '', tables: before.tables }, { schemaHash: '', tables: after.tables });
  const others = counts.length > 0 && (await run.engine.committedSince(run.engine.reader(reads), mark));
  const problems = [...structure, ...(others ? [] : counts)];
  if (problems.length > 0) throw new Error(`after the rollback the database differs from before the run: ${problems.join('; ')}`);
  return { moved: others ? counts : [] };
}

/** Read through the executor: inside the group, what it sees; after it, the database. */
function factsOf(run: Run, plan: Plan): Promise<DatabaseFacts> {
  return factsIn(run, plan.executor.reads);
}

function factsIn(run: Run, reads: Knex): Promise<DatabaseFacts> {
  return run.engine.facts(run.engine.reader(reads), recordedMigrations(run.engine));
}
