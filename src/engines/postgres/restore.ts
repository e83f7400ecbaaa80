import { GuardError } from '../../errors.ts';
import type { Progress, Reader, RestoreSteps } from '../contract.ts';
import type { PgConnection } from './connection.ts';
import { quotePg, withPg } from './connection.ts';
import { tools, type PgContext } from './context.ts';
import type { TransactionAtCommit } from './dump.ts';
import { handOverTo, warnAboutRoles } from './roles.ts';

/**
 * Puts a dump back into the live database in one transaction (`pg_restore --clean`), the
 * application connected, then proves it with `steps.prove`.
 */
export async function restorePgDump<T>(
  context: PgContext,
  snapshot: string,
  { onProgress, beforeChange, prove }: RestoreSteps<T>,
  /** The engine's own snapshot, for the pre-restore copy taken under the restore's locks. */
  snapshotTo: (target: string, onProgress?: Progress) => Promise<void>,
  read: <R>(work: (reader: Reader) => Promise<R>) => Promise<R>,
): Promise<T> {
  await context.requireSession();
  onProgress?.(0, 1);
  // pg_restore --clean drops and recreates what the dump holds; what the run created that the
  // dump does not know (a new table) is dropped first, in the same transaction. The tables are
  // locked against writers from before the pre-restore copy to the COMMIT, so an application's
  // commit is in the pre-restore copy or waits for the restore, never lost between the two.
  const { dumpObjects, runDumpAsOneTransaction } = await tools();
  const known = await dumpObjects(context.url, snapshot);
  const { role } = await context.roles();
  const { extra, tables, handOver } = await withPg(context.url, async (connection) => ({
    extra: await objectsNotIn(connection, known),
    tables: await writableTables(connection),
    handOver: role === null ? null : await handOverTo(connection, role),
  }));
  // As the role without superuser rights, once it owns what the restore drops and recreates
  // (the superuser hands it over in the same transaction, see handOverTo).
  let asRole: string[] = [];
  if (role !== null && handOver !== null) {
    if ('blocker' in handOver)
      warnAboutRoles(
        `restoring ${context.name} with superuser rights, not as ${role}: ${handOver.blocker}, which only a superuser can drop and create`,
      );
    else asRole = [...handOver.statements, `SET ROLE ${quotePg(role)}`];
  }
  const result = await runDumpAsOneTransaction(context.url, snapshot, ['--clean', '--if-exists'], {
    lock: tables,
    before: [...asRole, ...extra],
    whileLocked: async () => {
      await beforeChange?.(snapshotTo);
    },
  });
  if (!result.ok) {
    const pooled = await context.poolerBehind('when the restore failed');
    if (pooled) throw pooled;
    // Failed before its COMMIT (a deadlock with the application, a lock timeout): the server
    // rolled it back, so the database is as it was, whatever the application wrote since.
    // Not told by comparing row counts afterwards: a writer beside it changes them, and the
    // torture saw such a restore reported as exit 3 (restore by hand) with nothing changed.
    if (result.rolledBack)
      throw new GuardError(
        'RESTORE_FAILED',
        `restore into ${context.name} failed and was rolled back, the database is as it was: ${result.detail}`,
      );
    throw new Error(`restore into ${context.name} failed: ${result.detail}`);
  }
  onProgress?.(1, 1);
  // One snapshot for the whole proof; row counts an application changed after the COMMIT are
  // told apart (as SQLite's data_version does), everything else stays strict.
  return read(async (reader) => prove(reader, await committedAfter(reader, result.commit)));
}

/**
 * Whether this reader's snapshot shows a transaction that committed after `commit`: one of those
 * running as it committed, or one with a larger id. Unknown (`xid` null) counts as yes: the proof
 * then reports differing row counts instead of failing on them, and keeps schema and history strict.
 */
async function committedAfter(reader: Reader, commit: TransactionAtCommit): Promise<boolean> {
  if (commit.xid === null) return true;
  const [row] = await reader.all<{ others: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM (SELECT unnest(string_to_array(?, ',')::bigint[]) AS x
                      UNION ALL SELECT generate_series(?::bigint + 1, pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)) candidates
        WHERE x <> ?::bigint AND pg_xact_status(x::text::xid8) = 'committed' AND pg_visible_in_snapshot(x::text::xid8, pg_current_snapshot())
     ) AS others`,
    [commit.running.join(','), commit.xid, commit.xid],
  );
  return row?.others === true;
}

/** The tables of the schema the restore replaces, quoted for LOCK TABLE. */
async function writableTables(connection: PgConnection): Promise<string[]> {
  const rows = await connection.all<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  return rows.map((row) => quotePg(row.name));
}

/** Relations and types of the schema a dump does not hold: made by the run, dropped before a restore. */
async function objectsNotIn(connection: PgConnection, known: ReadonlySet<string>): Promise<string[]> {
  const rows = await connection.all<{ kind: string; name: string }>(
    `SELECT CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'TABLE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' END AS kind,
            c.relname AS name
       FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
     UNION ALL
     SELECT 'TYPE', t.typname FROM pg_type t
      WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'c', 'd') AND t.typrelid = 0`,
  );
  return rows
    .filter((row) => !known.has(`${row.kind} ${row.name}`))
    .map((row) => `DROP ${row.kind} IF EXISTS ${quotePg(row.name)} CASCADE`);
}
