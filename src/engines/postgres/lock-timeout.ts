import type { Knex } from 'knex';
import type { Blocker, LockPolicy } from '../../migrator/lock-retry.ts';
import type { Reader } from '../contract.ts';
import { PgConnection } from './connection.ts';

/** SQLSTATE lock_not_available: `canceling statement due to lock timeout` (and NOWAIT's refusal). */
const LOCK_NOT_AVAILABLE = '55P03';

/** A session's row of pg_stat_activity, as a Blocker. */
const BLOCKER_COLUMNS = `a.pid, coalesce(a.application_name, '') AS application_name, coalesce(a.query, '') AS query, a.state,
  CASE WHEN a.xact_start IS NULL THEN NULL ELSE round(extract(epoch FROM clock_timestamp() - a.xact_start) * 1000) END AS transaction_ms`;

interface BlockerRow {
  pid: number;
  application_name: string;
  query: string;
  state: string | null;
  transaction_ms: string | number | null;
}

const blockerOf = (row: BlockerRow): Blocker => ({
  pid: row.pid,
  applicationName: row.application_name,
  query: row.query,
  state: row.state,
  transactionMs: row.transaction_ms === null ? null : Number(row.transaction_ms),
});

/**
 * PostgreSQL's short lock timeout for the migrations' session. Each transaction the executor opens
 * starts with `set_config('lock_timeout', …, true)`, SET LOCAL: it ends with the transaction, so it
 * never outlives the run on a pooled server connection. A migration that sets `lock_timeout`
 * itself (SET or SET LOCAL) keeps its own: its SET runs after ours, in the same transaction, and
 * wins from there on; nothing of ours runs between its statements.
 *
 * Who blocks the session is read while it waits: `pg_blocking_pids()` of its backend from a
 * second connection, polled only while a transaction is open (opened on the first poll, which
 * comes after half the timeout, so a run that never waits never opens it).
 */
export function pgLockPolicy(knex: Knex, timeoutMs: number): LockPolicy {
  const url = connectionStringOf(knex);
  let pid: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let watcher: Promise<PgConnection> | null = null;
  let polling = false;
  let seen: { at: number; blockers: Blocker[] } | null = null;
  const everyMs = Math.max(50, Math.min(250, Math.round(timeoutMs / 4)));

  const connection = () => {
    watcher ??= PgConnection.open(url).then(async (opened) => {
      await opened.exec("SET application_name = 'migrate-guard lock watch'");
      return opened;
    });
    return watcher;
  };
  const poll = async () => {
    if (polling || pid === null) return;
    polling = true;
    try {
      const rows = await (
        await connection()
      ).all<BlockerRow>(`SELECT ${BLOCKER_COLUMNS} FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(?))`, [pid]);
      if (rows.length > 0) seen = { at: performance.now(), blockers: rows.map(blockerOf) };
    } catch {
      // Naming the blocker is a courtesy: a failed look never fails the run.
    } finally {
      polling = false;
    }
  };

  return {
    timeoutMs,
    async begin(trx) {
      const [row] = (
        await trx.raw<{ rows: { pid: number }[] }>("SELECT pg_backend_pid() AS pid, set_config('lock_timeout', ?, true)", [
          `${timeoutMs}ms`,
        ])
      ).rows;
      pid = row?.pid ?? pid;
    },
    isLockTimeout: (error) => codesOf(error).includes(LOCK_NOT_AVAILABLE),
    arm() {
      if (timer !== null) return;
      const tick = () => {
        void poll().finally(() => {
          if (timer !== null) timer = setTimeout(tick, everyMs).unref();
        });
      };
      // Unref'd: a library caller's process never stays alive for the watch alone.
      timer = setTimeout(tick, Math.max(everyMs, Math.round(timeoutMs / 2))).unref();
    },
    async disarm() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      const open = watcher;
      watcher = null;
      if (open) await open.then((opened) => opened.close()).catch(() => undefined);
    },
    async blockers(since) {
      if (seen !== null && seen.at >= since) return seen.blockers;
      // Not seen while waiting (a timeout shorter than the first look): the sessions whose
      // transaction was already open when the try began are the ones that can hold its lock.
      const ageMs = Math.max(0, Math.round(performance.now() - since));
      try {
        const opened = await PgConnection.open(url);
        try {
          const rows = await opened.all<BlockerRow>(
            `SELECT ${BLOCKER_COLUMNS} FROM pg_stat_activity a
              WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
                AND a.pid <> ? AND a.xact_start < clock_timestamp() - make_interval(secs => ? / 1000.0)
              ORDER BY a.xact_start LIMIT 3`,
            [pid ?? 0, ageMs],
          );
          return rows.map(blockerOf);
        } finally {
          await opened.close().catch(() => undefined);
        }
      } catch {
        return [];
      }
    },
  };
}

/**
 * Transactions open longer than `olderThanMs` on this database (not ours): preflight's warning,
 * since a migration that needs one of their tables waits for them to end.
 */
export async function longTransactions(reader: Reader, olderThanMs: number): Promise<Blocker[]> {
  const rows = await reader.all<BlockerRow>(
    `SELECT ${BLOCKER_COLUMNS} FROM pg_stat_activity a
      WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
        AND a.xact_start < clock_timestamp() - make_interval(secs => ? / 1000.0)
      ORDER BY a.xact_start`,
    [olderThanMs],
  );
  return rows.map(blockerOf);
}

/** The SQLSTATEs in an error and everything it wraps (umzug's MigrationError, a `.sql` statement's error). */
function codesOf(error: unknown, depth = 0): string[] {
  if (error === null || typeof error !== 'object' || depth > 8) return [];
  const { code, cause } = error as { code?: unknown; cause?: unknown };
  return [...(typeof code === 'string' ? [code] : []), ...codesOf(cause, depth + 1)];
}

/** The URL knex connects with (openPgKnex gives it as `connectionString`). */
function connectionStringOf(knex: Knex): string {
  const config = (knex.client as { config?: { connection?: unknown } }).config?.connection;
  if (typeof config === 'string') return config;
  const url = (config as { connectionString?: unknown } | undefined)?.connectionString;
  if (typeof url !== 'string') throw new Error('the PostgreSQL knex instance has no connection string to watch its locks with');
  return url;
}
