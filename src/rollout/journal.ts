import { readFile } from 'node:fs/promises';
import type { Engine } from '../engines/contract.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { removeIfPresent } from '../fs/paths.ts';

/**
 * Where a run is in the runbook. Only `migrating`, `checking` and `restoring` mean the database may
 * have been changed. Before them an interrupted run left nothing to undo; so in `grouped`, where
 * every change is in one transaction that only commits once the backup is proven and the checks
 * passed: killed before the commit, SQLite throws the transaction away on the next open; killed
 * after it, the database is the proven result.
 */
export type RunState = 'backing-up' | 'grouped' | 'migrating' | 'checking' | 'restoring';

export interface JournalEntry {
  readonly runId: string;
  readonly pid: number;
  readonly command: string;
  readonly state: RunState;
  readonly startedAt: string;
  /** Where this run writes its backup, so a recovery can clear a half-written one. */
  readonly backupDir: string;
  /** The verified pre-rollout backup; set before the first change to the database. */
  readonly backup: string | null;
  /** The backup file being written while `backing-up`, so a recovery can remove a half of it. */
  readonly pendingBackup?: string | null;
  /** The run marked the history in use for other tools (knex's lock row); a recovery clears it. */
  readonly historyLocked?: boolean;
  /**
   * For a history kept outside the database (a project Umzug's JSON file): what it said before
   * the run, so a recovery that restores the database puts it back too.
   */
  readonly executedBefore?: readonly string[];
}

type Owner = Pick<Engine, 'sidecar'>;

export function journalPath(engine: Owner): string {
  return engine.sidecar('migrate-guard.journal.json');
}

export async function readJournal(engine: Owner): Promise<JournalEntry | null> {
  let text: string;
  try {
    text = await readFile(journalPath(engine), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return JSON.parse(text) as JournalEntry;
}

export function writeJournal(engine: Owner, entry: JournalEntry): Promise<void> {
  return writeFileAtomic(journalPath(engine), `${JSON.stringify(entry, null, 2)}\n`);
}

export function clearJournal(engine: Owner): Promise<void> {
  return removeIfPresent(journalPath(engine));
}

export function changedDatabase(entry: JournalEntry): boolean {
  return entry.state === 'migrating' || entry.state === 'checking' || entry.state === 'restoring';
}
