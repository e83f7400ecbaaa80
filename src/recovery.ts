import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readManifest } from './backup/manifest.ts';
import { GuardError } from './errors.ts';
import type { EventListener } from './events.ts';
import { removeIfPresent } from './files.ts';
import { changedDatabase, clearJournal, readJournal, type RunState } from './journal.ts';
import { restoreFull } from './restore/full.ts';

export interface Recovery {
  /** The state the interrupted run had reached. */
  readonly state: RunState;
  readonly runId: string;
  readonly pid: number;
  /** The backup that was restored, or null when the run died before changing anything. */
  readonly restoredFrom: string | null;
}

/**
 * Undoes a run that was killed, crashed or lost power: if its journal says the database may have
 * been changed, its verified pre-rollout backup goes back in (and is proven); otherwise only its
 * half-written backup is cleared away. Must be called with the run lock held.
 */
export async function recoverInterruptedRun(database: string, emit: EventListener): Promise<Recovery | null> {
  const entry = await readJournal(database);
  if (entry === null) return null;
  if (!changedDatabase(entry) || entry.backup === null) {
    await removeTemporaryBackups(entry.backupDir, entry.pid);
    await clearJournal(database);
    emit({ type: 'step', message: `an interrupted ${entry.command} (pid ${entry.pid}) had not changed the database; cleared its leftovers` });
    return { state: entry.state, runId: entry.runId, pid: entry.pid, restoredFrom: null };
  }
  emit({
    type: 'warning',
    message: `an interrupted ${entry.command} (pid ${entry.pid}, ${entry.state}) may have changed the database; restoring its pre-rollout backup ${entry.backup}`,
  });
  try {
    const manifest = await readManifest(entry.backup);
    await restoreFull({
      database,
      backupFile: entry.backup,
      manifest,
      onProgress: (done, total) => emit({ type: 'progress', task: 'restore', done, total }),
    });
  } catch (error) {
    throw new GuardError(
      'RECOVERY_FAILED',
      `could not undo the interrupted run: ${(error as Error).message}; restore ${entry.backup} by hand (migrate-guard restore)`,
      { cause: error, exitCode: 3, backup: entry.backup },
    );
  }
  await clearJournal(database);
  emit({ type: 'step', message: `restored and verified ${entry.backup}: the interrupted run is undone` });
  return { state: entry.state, runId: entry.runId, pid: entry.pid, restoredFrom: entry.backup };
}

async function removeTemporaryBackups(backupDir: string, pid: number): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(backupDir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (name.startsWith('.') && name.endsWith(`.tmp-${pid}`)) await removeIfPresent(path.join(backupDir, name));
  }
}
