import { readFile, readlink, stat } from 'node:fs/promises';
import { GuardError } from '../../errors.ts';
import { isDatabaseBusy } from './busy-code.ts';
import type { DatabaseWait } from '../contract.ts';

/**
 * How long a busy live database is waited for before the run is refused. Long enough for another
 * connection's crash recovery of a large WAL on a loaded machine; short enough that a deploy
 * blocked by a stuck process hears about it while someone still watches.
 */
export const BUSY_PATIENCE_MS = 30_000;

export interface UntilFreeOptions {
  readonly onWait?: (wait: DatabaseWait) => void;
  readonly patienceMs?: number;
}

/**
 * Runs `attempt` (an open and a first read of the live database) again while SQLite says the
 * database is busy, for `patienceMs` at most, telling `onWait` once when the wait starts and once
 * when it ends. Past the bound: DATABASE_BUSY, naming what holds the database's files.
 */
export async function untilFree<T>(database: string, attempt: () => Promise<T>, options: UntilFreeOptions = {}): Promise<T> {
  const patienceMs = options.patienceMs ?? BUSY_PATIENCE_MS;
  const started = performance.now();
  let pause = 100;
  let reason: string | null = null;
  for (;;) {
    try {
      const result = await attempt();
      if (reason !== null)
        options.onWait?.({ database, reason, waitedMs: Math.round(performance.now() - started), patienceMs, over: true });
      return result;
    } catch (error) {
      if (!isDatabaseBusy(error)) throw error;
      const waited = performance.now() - started;
      if (waited >= patienceMs) throw await busyRefusal(database, error, waited);
      if (reason === null) {
        reason = describe(error);
        options.onWait?.({ database, reason, waitedMs: Math.round(waited), patienceMs, over: false });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, patienceMs - waited)));
      pause = Math.min(pause * 2, 2_000);
    }
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: string }).code;
  return code === 'SQLITE_PROTOCOL'
    ? 'SQLITE_PROTOCOL: another connection holds its shared memory or is recovering it after a crash'
    : 'SQLITE_BUSY: another connection holds a lock on it';
}

async function busyRefusal(database: string, error: unknown, waitedMs: number): Promise<GuardError> {
  const holders = await processesHolding([database, `${database}-wal`, `${database}-shm`, `${database}-journal`]);
  const who =
    holders === null
      ? `which process holds it cannot be told on this system (no /proc/locks); look with: fuser -v ${database}*`
      : holders.length === 0
        ? `no process holds a lock on its files now (it may have just let go): run again`
        : `held by ${holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ')}; stop it or let it finish, then run again`;
  return new GuardError(
    'DATABASE_BUSY',
    `database ${database} stayed busy for ${Math.round(waitedMs / 1000)}s (${describe(error)}); nothing was changed; ${who}`,
    { cause: error },
  );
}

export interface LockHolderProcess {
  readonly pid: number;
  readonly command: string;
}

/**
 * The other processes holding a POSIX lock on any of `files` (SQLite's locks are POSIX locks),
 * read from /proc/locks; null where there is no /proc/locks (not Linux).
 */
export async function processesHolding(files: readonly string[]): Promise<LockHolderProcess[] | null> {
  let table: string;
  try {
    table = await readFile('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  const wanted = new Set<string>();
  for (const file of files) {
    const info = await stat(file).catch(() => null);
    if (info === null) continue;
    // /proc/locks names a file as major:minor:inode, the device numbers in hex.
    const major = (info.dev >> 8) & 0xfff;
    const minor = (info.dev & 0xff) | ((info.dev >> 12) & 0xfff00);
    wanted.add(`${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${info.ino}`);
  }
  const pids = new Set<number>();
  for (const line of table.split('\n')) {
    // `1: POSIX  ADVISORY  WRITE 1234 fe:00:2146849 128 128`; a waiting lock has a `->` after `1:`.
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || fields[1] === '->') continue;
    const pid = Number(fields[4]);
    if (wanted.has(fields[5]!) && Number.isInteger(pid) && pid !== process.pid) pids.add(pid);
  }
  const holders: LockHolderProcess[] = [];
  for (const pid of [...pids].sort((a, b) => a - b)) holders.push({ pid, command: await commandOf(pid) });
  return holders;
}

async function commandOf(pid: number): Promise<string> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const words = cmdline.split('\0').filter(Boolean);
  if (words.length > 0) return words.slice(0, 3).join(' ').slice(0, 120);
  return readlink(`/proc/${pid}/exe`).catch(() => 'unknown command');
}
