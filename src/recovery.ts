import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { keepPreRestoreCopy } from './restore/pre-restore-copy.ts';
import { manifestPathOf } from './backup/manifest.ts';
import { GuardError, messageOf } from './errors.ts';
import type { EventListener } from './events.ts';
import { pathExists, removeIfPresent } from './files.ts';
import { changedDatabase, clearJournal, journalPath, readJournal, type JournalEntry, type RunState } from './journal.ts';
import { prepareBackup, restoreFull } from './restore/full.ts';

export interface Recovery {
  /** The state the interrupted run had reached. */
  readonly state: RunState;
  readonly runId: string;
  readonly pid: number;
  /** The backup that was restored, or null when the run died before changing anything. */
  readonly restoredFrom: string | null;
  /** A verified copy of what the database held before recovery overwrote it. */
  readonly preRestoreCopy: string | null;
}

/** What an operator does when no automatic restore can be trusted. */
export function manualRestoreAdvice(database: string, backup: string): string {
  return `stop the application, run: sqlite3 ${database} ".restore '${backup}'" then delete ${journalPath(database)}`;
}

/**
 * Undoes a run that was killed, crashed or lost power: if its journal says the database may have
 * been changed, its verified pre-rollout backup goes back in (and is proven); otherwise only its
 * half-written backup is cleared away. Must be called with the run lock held.
 *
 * The application may have written to the database since the crash, so what is there now is kept
 * as a pre-restore copy first: recovery must not be the thing that loses data.
 */
export async function recoverInterruptedRun(database: string, emit: EventListener): Promise<Recovery | null> {
  const entry = await readJournal(database);
  if (entry === null) return null;
  const base = { state: entry.state, runId: entry.runId, pid: entry.pid };
  if (!changedDatabase(entry) || entry.backup === null) {
    await removeHalfWrittenBackup(entry);
    await clearJournal(database);
    emit({ type: 'step', message: `an interrupted ${entry.command} (pid ${entry.pid}) had not changed the database; cleared its leftovers` });
    return { ...base, restoredFrom: null, preRestoreCopy: null };
  }
  emit({
    type: 'warning',
    message: `an interrupted ${entry.command} (pid ${entry.pid}, ${entry.state}) may have changed the database; restoring its pre-rollout backup ${entry.backup}`,
  });
  const onProgress = (task: 'backup' | 'restore') => (done: number, total: number) => emit({ type: 'progress', task, done, total });
  let preRestoreCopy: string | null = null;
  try {
    const prepared = await prepareBackup(entry.backup);
    try {
      preRestoreCopy = await keepPreRestoreCopy(database, onProgress('backup'));
      emit({ type: 'step', message: `kept the current database as ${preRestoreCopy}` });
    } catch (error) {
      // Undoing the half-run matters more than keeping a copy of it (a full disk, say).
      emit({ type: 'warning', message: `could not keep a copy of the current database (${messageOf(error)}); restoring anyway` });
    }
    try {
      await restoreFull({ database, backup: prepared, onProgress: onProgress('restore') });
    } finally {
      await prepared.release();
    }
  } catch (error) {
    throw new GuardError(
      'RECOVERY_FAILED',
      `could not undo the interrupted run: ${messageOf(error)}; ${manualRestoreAdvice(database, entry.backup)}`,
      { cause: error, exitCode: 3, backup: entry.backup },
    );
  }
  await clearJournal(database);
  emit({ type: 'step', message: `restored and verified ${entry.backup}: the interrupted run is undone` });
  return { ...base, restoredFrom: entry.backup, preRestoreCopy };
}

/** The temporary copy (and its SQLite side files) and an unfinished backup without manifest. */
async function removeHalfWrittenBackup(entry: JournalEntry): Promise<void> {
  const folder = entry.pendingBackup ? path.dirname(entry.pendingBackup) : entry.backupDir;
  let names: string[] = [];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith('.') && /\.tmp-(\d+)(-journal|-wal|-shm|\.gz)?$/.exec(name)?.[1] === String(entry.pid)) {
      await removeIfPresent(path.join(folder, name));
    }
  }
  if (entry.pendingBackup && !(await pathExists(manifestPathOf(entry.pendingBackup)))) {
    await removeIfPresent(entry.pendingBackup);
  }
}
