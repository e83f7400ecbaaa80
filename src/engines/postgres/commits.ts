import type { Reader } from '../contract.ts';
import { quotePg, withPg } from './connection.ts';

/** A mark of which transactions had committed, read on the migrations' connection as they begin. */
export async function pgCommitMark(reader: Reader): Promise<string> {
  const [row] = await reader.all<{ mark: string }>('SELECT pg_current_snapshot()::text AS mark');
  return row?.mark ?? '';
}
/**
 * Transactions that were running when the mark was read, or began after it, and have committed
 * since (this session's own are in progress or aborted, never committed while it runs).
 */
export async function pgCommittedSince(reader: Reader, mark: string): Promise<boolean> {
  const [row] = await reader.all<{ others: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM (SELECT pg_snapshot_xip(?::pg_snapshot) AS x
                      UNION ALL SELECT generate_series(pg_snapshot_xmax(?::pg_snapshot)::text::bigint,
                                                       pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)::text::xid8) candidates
        WHERE pg_xact_status(x) = 'committed'
     ) AS others`,
    [mark, mark],
  );
  return row?.others !== false;
}
/**
 * Inside the run's transaction (a group), what it removed is invisible to other sessions
 * until it commits: the table counted from a session of its own, less the count the run
 * sees, is exactly the run's doing, whatever the application deleted meanwhile. A table the
 * run holds ACCESS EXCLUSIVE (truncated, altered, dropped) cannot be counted from outside, and
 * no one else could write it since: its whole loss is the run's. Without a transaction open
 * (a run per migration), the run's commits and the application's cannot be split.
 */
export async function pgRemovedByRun(url: string, reader: Reader, table: string, before: number, now: number): Promise<number | null> {
  const [open] = await reader.all<{ open: boolean }>('SELECT txid_current_if_assigned() IS NOT NULL AS open');
  if (!open?.open) return null;
  try {
    const outside = await withPg(url, async (connection) => {
      await connection.exec("SET lock_timeout = '500ms'");
      const [row] = await connection.all<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quotePg(table)}`);
      return Number(row?.n ?? 0);
    });
    return outside - now;
  } catch {
    return before - now;
  }
}
