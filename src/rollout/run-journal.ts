import { randomUUID } from 'node:crypto';
import { messageOf } from '../errors.ts';
import { clearJournal, journalPath, writeJournal, type RunState } from './journal.ts';
import type { Run } from './run.ts';

/** This run's journal: what the next run must undo if this one is killed now. */
export interface RunJournal {
  /** Records that the database may be changed from now on, and which backup undoes it. Must succeed. */
  changing(backup: string): Promise<void>;
  /** Records that the changes go into one transaction that commits only when all is proven. */
  grouping(): Promise<void>;
  /** Refines the story (checking, restoring); failing to write it must not stop the run. */
  note(state: RunState): Promise<void>;
  /** The run ended in a known state: nothing to undo. Failing to delete is said loudly, not thrown. */
  retire(): Promise<void>;
  /** The run ends before it changed anything. */
  abandon(): Promise<void>;
}

/**
 * Starts the journal in `backing-up`, naming the backup file about to be written, and whether the
 * run marks the history in use for other tools (so a recovery clears the mark).
 */
export async function openRunJournal(run: Run, pendingBackup: string, executedBefore: readonly string[]): Promise<RunJournal> {
  const base = {
    runId: randomUUID(),
    pid: process.pid,
    command: run.direction.command,
    startedAt: new Date().toISOString(),
    backupDir: run.backupDir,
    historyLocked: run.history.lock !== undefined,
    ...(run.history.inDatabase ? {} : { executedBefore }),
  };
  let backup: string | null = null;
  const write = (state: RunState) =>
    writeJournal(run.engine, { ...base, state, backup, pendingBackup: backup === null ? pendingBackup : null });
  await write('backing-up');
  return {
    async changing(verified) {
      backup = verified;
      await write('migrating');
    },
    grouping: () => write('grouped'),
    note: (state) =>
      write(state).catch((error: unknown) =>
        run.emit({ type: 'warning', message: `could not update the run journal: ${messageOf(error)}` }),
      ),
    retire: () =>
      clearJournal(run.engine).catch((error: unknown) =>
        run.emit({
          type: 'warning',
          message: `could not remove the run journal ${journalPath(run.engine)} (${messageOf(error)}): delete it by hand, or the next run will restore ${backup}`,
        }),
      ),
    abandon: () => clearJournal(run.engine).catch(() => undefined),
  };
}
