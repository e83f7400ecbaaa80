import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { manifestPathOf } from '../backup/manifest.ts';
import type { Engine, Progress } from '../engines/contract.ts';
import { GuardError, messageOf } from '../errors.ts';
import { progressOf, type EventListener } from '../events.ts';
import { temporaryOwner } from '../fs/atomic.ts';
import { pathExists, removeIfPresent } from '../fs/paths.ts';
import type { MigrationHistory } from '../history/contract.ts';
import { recordedMigrations } from '../history/select.ts';
import { keepPreRestoreCopy } from '../restore/pre-restore-copy.ts';
import { prepareBackup } from '../restore/prepare.ts';
import { restoreFull } from '../restore/restore-full.ts';
import { changedDatabase, clearJournal, journalPath, readJournal, type JournalEntry, type RunState } from './journal.ts';

export interface Recovery {
  /** The state the interrupted run had reached. */
  readonly state: RunState;
  readonly runId: string;
  readonly pid: number;
  /** The backup that was restored, or null when the run died before changing anything. */
  readonly restoredFrom: string | null;
  /** A copy of what the database held before recovery overwrote it. */
  readonly preRestoreCopy: string | null;
}

/** What an operator does when no automatic restore can be trusted. */
export function manualRestoreAdvice(engine: Pick<Engine, 'manualRestore' | 'sidecar'>, backup: string): string {
  return `stop the application, run: ${engine.manualRestore(backup)} then delete ${journalPath(engine)}`;
}

export interface RecoverOptions {
  readonly engine: Engine;
  readonly history: MigrationHistory;
  readonly emit: EventListener;
}

/**
 * Undoes a run that was killed, crashed or lost power: if its journal says the database may have
 * been changed, its verified pre-rollout backup goes back in (and is proven); otherwise only its
 * half-written backup is cleared away. Must be called with the run lock held.
 *
 * The application may have written to the database since the crash, so what is there now is kept
 * as a pre-restore copy first: recovery must not be the thing that loses data.
 */
export async function recoverInterruptedRun(options: RecoverOptions): Promise<Recovery | null> {
  const { engine, emit } = options;
  const entry = await readJournal(engine);
  if (entry === null) return null;
  const base = { state: entry.state, runId: entry.runId, pid: entry.pid };
  if (!changedDatabase(entry) || entry.backup === null) {
    await removeHalfWrittenBackup(entry);
    await clearStaleHistoryLock(options, entry);
    await clearJournal(engine);
    emit({ type: 'step', message: `an interrupted ${entry.command} (pid ${entry.pid}) had not changed the database; cleared its leftovers` });
    return { ...base, restoredFrom: null, preRestoreCopy: null };
  }
  emit({
    type: 'warning',
    message: `an interrupted ${entry.command} (pid ${entry.pid}, ${entry.state}) may have changed the database; restoring its pre-rollout backup ${entry.backup}`,
  });
  const applied = recordedMigrations(engine);
  let preRestoreCopy: string | null = null;
  try {
    const prepared = await prepareBackup(engine, applied, entry.backup);
    try {
      const keepCurrent = async (snapshot: (target: string, onProgress?: Progress) => Promise<void>) => {
        try {
          preRestoreCopy = await keepPreRestoreCopy(engine, snapshot, progressOf(emit, 'backup'));
          emit({ type: 'step', message: `kept the current database as ${preRestoreCopy}` });
        } catch (error) {
          // Undoing the half-run matters more than keeping a copy of it (a full disk, say).
          emit({ type: 'warning', message: `could not keep a copy of the current database (${messageOf(error)}); restoring anyway` });
        }
      };
      await restoreFull({ engine, applied, backup: prepared, keepCurrent, onProgress: progressOf(emit, 'restore') });
      // A history the restore could not reach (a project Umzug's JSON file) is put back to match.
      if (entry.executedBefore) await options.history.reconcile?.(entry.executedBefore);
    } finally {
      await prepared.release();
    }
  } catch (error) {
    throw new GuardError(
      'RECOVERY_FAILED',
      `could not undo the interrupted run: ${messageOf(error)}; ${manualRestoreAdvice(engine, entry.backup)}`,
      { cause: error, exitCode: 3, backup: entry.backup },
    );
  }
  await clearStaleHistoryLock(options, entry);
  await clearJournal(engine);
  emit({ type: 'step', message: `restored and verified ${entry.backup}: the interrupted run is undone` });
  return { ...base, restoredFrom: entry.backup, preRestoreCopy };
}

/** The temporary copy (and its SQLite side files) and an unfinished backup without manifest. */
async function removeHalfWrittenBackup(entry: JournalEntry): Promise<void> {
  const folder = entry.pendingBackup ? path.dirname(entry.pendingBackup) : entry.backupDir;
  const names = await readdir(folder).catch((): string[] => []);
  for (const name of names) {
    if (temporaryOwner(name) === entry.pid) await removeIfPresent(path.join(folder, name));
  }
  if (entry.pendingBackup && !(await pathExists(manifestPathOf(entry.pendingBackup)))) {
    await removeIfPresent(entry.pendingBackup);
  }
}

/** The history mark (knex's lock row) the dead run set; the restored backup carries it too. */
async function clearStaleHistoryLock({ engine, history }: RecoverOptions, entry: JournalEntry): Promise<void> {
  const unlock = history.unlock;
  if (entry.historyLocked && unlock && (await engine.probe()) === 'ready') await engine.read('readwrite', (reader) => unlock(reader));
}
