import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { GuardError } from '../../errors.ts';
import { writeFileAtomic } from '../../fs/atomic.ts';
import { removeIfPresent } from '../../fs/paths.ts';
import { isProcessRunning } from '../../fs/process.ts';
import type { LockHolder, RunLock } from '../contract.ts';
import { SqliteConnection } from './connection.ts';

export function lockPaths(database: string): { readonly mutex: string; readonly holder: string } {
  return { mutex: `${database}.migrate-guard.lock`, holder: `${database}.migrate-guard.lock.json` };
}

/**
 * One run at a time per database. The mutex is an exclusive transaction on a small SQLite file:
 * the kernel drops that lock when the process dies however it dies (SIGKILL, power cut), so a
 * stale lock needs no guessing from pids or ages, and two runs can never both take it over.
 * The JSON beside it only says who holds it, for the message the second run prints.
 */
export async function acquireLock(database: string, command: string): Promise<RunLock> {
  const paths = lockPaths(database);
  const mutex = await SqliteConnection.open(paths.mutex, 'create');
  // Not 0: two runs starting at the same instant could each take the shared lock and both be
  // refused the exclusive one; a moment's wait lets one of them win. A run holds it for minutes.
  mutex.setBusyTimeout(250);
  try {
    // No journal file: nothing is ever written to this database, it only carries the lock.
    await mutex.exec('PRAGMA journal_mode = MEMORY; BEGIN EXCLUSIVE');
  } catch (error) {
    await mutex.close().catch(() => undefined);
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    const holder = await awaitLiveHolder(paths.holder);
    const who = holder ? `pid ${holder.pid} on ${holder.host} (${holder.command}, since ${holder.since})` : 'another process';
    throw new GuardError('LOCK_HELD', `another migrate-guard run holds the lock on ${database}: ${who}; wait for it to finish`, {
      cause: error,
    });
  }
  const previous = await readHolder(paths.holder);
  const self: LockHolder = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  try {
    await writeFileAtomic(paths.holder, `${JSON.stringify(self)}\n`);
  } catch (error) {
    await mutex.close().catch(() => undefined);
    throw error;
  }
  return {
    tookOverFrom: previous,
    async release() {
      await removeIfPresent(paths.holder);
      await mutex.exec('ROLLBACK').catch(() => undefined);
      await mutex.close();
    },
  };
}

async function readHolder(file: string): Promise<LockHolder | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockHolder;
  } catch {
    return null;
  }
}

/**
 * The holder writes its name just after it took the lock: a run refused in between would read no
 * name, or the name a killed run left. It waits for a live holder's name a few seconds (only on
 * this rare race: a live holder is read at once), so the refusal names who to wait for.
 */
async function awaitLiveHolder(file: string, patienceMs = 5_000): Promise<LockHolder | null> {
  const deadline = Date.now() + patienceMs;
  let holder = await readHolder(file);
  while (!(holder !== null && isLive(holder)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    holder = await readHolder(file);
  }
  return holder;
}

/** Whether the named process runs (another host's cannot be told: taken as live). */
function isLive(holder: LockHolder): boolean {
  return holder.host !== hostname() || isProcessRunning(holder.pid);
}
