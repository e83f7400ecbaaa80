import { messageOf } from '../errors.ts';
import type { Plan } from './plan.ts';
import type { Run } from './run.ts';

export interface HeldHistoryLock {
  /** Clears the mark; best effort (a failure is said, and the next run's recovery clears it). */
  release(): Promise<void>;
}

/**
 * Marks the history in use for the tools that share it (knex's `is_locked`), before the backup
 * is taken: a `knex migrate:latest` must not change the database between our backup and our end.
 * The mark is committed at once (other processes must see it), and cleared through a connection
 * of its own, so it can be released after the plan's connection is closed or a restore ran.
 */
export async function lockHistory(run: Run, plan: Plan): Promise<HeldHistoryLock> {
  const { history, engine } = run;
  const taken = history.lock && history.unlock ? await history.lock(plan.root) : false;
  return {
    async release() {
      if (!taken || !history.unlock) return;
      const unlock = history.unlock;
      await engine
        .read('readwrite', (reader) => unlock(reader))
        .catch((error: unknown) =>
          run.emit({ type: 'warning', message: `could not clear ${history.table}'s lock (${messageOf(error)}); run knex migrate:unlock` }),
        );
    },
  };
}
