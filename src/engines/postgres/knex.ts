import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import type { ChangedSet, KnexHandle, Reader } from '../contract.ts';
import { WriteSet } from '../write-set.ts';
import { pgStatements } from './write-set.ts';
import { APPLICATION_NAME, withPg } from './connection.ts';
import { VERBATIM_MARK } from './statement.ts';

/**
 * The knex instance migrations see on PostgreSQL: one connection (pool max 1), named in
 * pg_stat_activity. A signal cancels the running statement from a connection of its own, and the
 * session turns read-only so the migration's next write fails.
 */
export function openPgKnex(url: string): KnexHandle {
  const backends = new Set<number>();
  const knex = knexFactory({
    client: verbatimAwareClient(),
    connection: { connectionString: url, application_name: APPLICATION_NAME },
    pool: {
      min: 1,
      max: 1,
      afterCreate: (connection: pg.Client & { processID?: number }, done: (error: Error | null, connection: unknown) => void) => {
        if (connection.processID !== undefined) backends.add(connection.processID);
        done(null, connection);
      },
    },
  });
  const watchers = new Set<(query: { sql: string }) => void>();
  return {
    knex,
    watchWrites() {
      const written = new WriteSet(pgStatements);
      const listener = (query: { sql: string }) => written.add(query.sql);
      knex.on('query', listener);
      watchers.add(listener);
      return (reader) => changedSoFar(written.result(), reader);
    },
    interrupt() {
      for (const pid of backends) {
        void withPg(url, (control) => control.all('SELECT pg_cancel_backend(?)', [pid])).catch(() => undefined);
      }
      // Queued behind the cancelled statement on the same connection: the next write fails.
      void knex.raw('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY').catch(() => undefined);
    },
    destroy: () => knex.destroy(),
  };
}

/**
 * The statements say what DDL touched; inside a transaction, `pg_stat_xact_user_tables` says
 * exactly which tables had rows inserted, updated or deleted, triggers and cascades included.
 * Outside one (a run per migration), rows written by a trigger or a cascade cannot be seen, so a
 * written table with triggers or with cascading keys pointing at it makes the set unknown.
 */
async function changedSoFar(statements: ChangedSet, reader: Reader): Promise<ChangedSet> {
  if (statements.unknown !== null) return statements;
  const [transaction] = await reader.all<{ open: boolean }>(
    'SELECT now() <> statement_timestamp() OR txid_current_if_assigned() IS NOT NULL AS open',
  );
  const rows = await reader.all<{ name: string; changed: boolean }>(
    `SELECT relname AS name, (n_tup_upd + n_tup_del) > 0 AS changed FROM pg_stat_xact_user_tables
      WHERE schemaname = current_schema() AND (n_tup_ins + n_tup_upd + n_tup_del) > 0`,
  );
  const tables = new Set([...statements.tables, ...rows.map((row) => row.name)]);
  const rowsChanged = new Set([...statements.rowsChanged, ...rows.filter((row) => row.changed).map((row) => row.name)]);
  if (!transaction?.open && tables.size > 0) {
    const [reach] = await reader.all<{ hidden: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                       WHERE NOT t.tgisinternal AND c.relname = ANY(?::text[]) AND c.relnamespace = current_schema()::regnamespace)
           OR EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_class p ON p.oid = k.confrelid
                       WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))
                         AND p.relname = ANY(?::text[]) AND p.relnamespace = current_schema()::regnamespace) AS hidden`,
      [[...tables], [...tables]],
    );
    if (reach?.hidden)
      return {
        tables: [...tables],
        rowsChanged: [...rowsChanged],
        unknown: 'a written table has triggers or cascading foreign keys, outside one transaction',
      };
  }
  return { tables: [...tables].sort(), rowsChanged: [...rowsChanged].sort(), unknown: null };
}

/**
 * knex's PostgreSQL client, except that a statement marked `VERBATIM_MARK` (a `.sql` file's) is
 * sent as written, mark removed, instead of having its `?` rewritten to `$n` placeholders.
 */
function verbatimAwareClient(): typeof Knex.Client {
  const Client: typeof Knex.Client & { prototype: { positionBindings(sql: string): string } } = createRequire(import.meta.url)(
    'knex/lib/dialects/postgres/index.js',
  );
  return class VerbatimAwarePgClient extends Client {
    override positionBindings(sql: string): string {
      return sql.startsWith(VERBATIM_MARK) ? sql.slice(VERBATIM_MARK.length) : super.positionBindings(sql);
    }
  } as typeof Knex.Client;
}
