import { createHash } from 'node:crypto';
import { GuardError } from '../../errors.ts';
import type { RunLock } from '../contract.ts';
import { PgConnection } from './connection.ts';
import { transactionPoolerError, type UrlSource } from './pooler.ts';

/** A fixed key per database: the first 8 bytes of sha256("migrate-guard:" + name), as a bigint. */
export function lockKey(database: string): string {
  return BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`migrate-guard:${database}`).digest('hex').slice(0, 16)}`)).toString();
}

/**
 * One run at a time per database: a session-level `pg_try_advisory_lock` on a connection of its
 * own, held until `release` (or until the connection ends: a killed run's lock goes with its
 * session). Refused with the holder's pid and application_name. A session lock needs a session:
 * through a transaction-pooling PgBouncer the lock would be taken and lost at once; the engine
 * proves the URL gives one before locking (pooler.ts), and the lock checks that it holds it.
 */
export async function acquirePgLock(url: string, database: string, command: string, source: UrlSource = 'DATABASE_URL'): Promise<RunLock> {
  const connection = await PgConnection.open(url);
  const key = lockKey(database);
  try {
    await connection.exec(`SET application_name = 'migrate-guard ${command.replace(/[^a-z-]/g, '')}'`);
    const [taken] = await connection.all<{ locked: boolean }>('SELECT pg_try_advisory_lock(?::bigint) AS locked', [key]);
    if (!taken?.locked) {
      const holders = await connection.all<{ pid: number; application_name: string; backend_start: Date | null }>(
        `SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = ?::bigint`,
        [key],
      );
      const holder = holders[0];
      const who = holder
        ? `pid ${holder.pid} (${holder.application_name || 'no application_name'}, connected since ${holder.backend_start?.toISOString() ?? '?'})`
        : 'another session';
      throw new GuardError('LOCK_HELD', `another migrate-guard run holds the lock on ${database}: ${who}; wait for it to finish`);
    }
    // A session lock needs a session. Through a pooler in transaction mode (PgBouncer's
    // `pool_mode = transaction`) the next statement may run on another server session, which
    // does not hold it: seen here, the lock would protect nothing.
    const [held] = await connection.all<{ held: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                        AND ((classid::bigint << 32) | objid::bigint) = ?::bigint) AS held`,
      [key],
    );
    if (!held?.held)
      throw await transactionPoolerError(
        url,
        source,
        `the run lock on ${database} taken a moment ago is not held by the session that took it`,
      );
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
  return {
    // A dead run's session lock died with its session: there is never one to take over.
    tookOverFrom: null,
    async release() {
      await connection.all('SELECT pg_advisory_unlock(?::bigint)', [key]).catch(() => undefined);
      await connection.close();
    },
  };
}
