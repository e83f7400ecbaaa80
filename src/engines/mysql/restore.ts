import { quoteMy, withMy, type MyConnection } from './connection.ts';
import type { MyServer } from './url.ts';

/** Statement counters of the whole server: any write any session makes moves one of them. */
const WRITE_COUNTERS = [
  'Com_insert',
  'Com_insert_select',
  'Com_update',
  'Com_update_multi',
  'Com_delete',
  'Com_delete_multi',
  'Com_replace',
  'Com_replace_select',
  'Com_load',
  'Com_truncate',
];

type AnyReader = { all<T>(sql: string, bindings?: readonly unknown[]): Promise<T[]> };

/**
 * A mark of the writes that may have reached `database`: the server's statement counters
 * (`Com_insert`, `Com_update`, …), which any write to any database moves, and InnoDB's per-table
 * count of modified rows (`MODIFIED_COUNTER` of INNODB_SYS_TABLESTATS on MariaDB,
 * INNODB_TABLESTATS on MySQL 8) by table name. Either moving counts as written: the statement
 * counters also move for other databases (never "not written" when one was), the table counters
 * are reset by InnoDB's statistics recalculation (which can bring one back to the mark's value).
 */
export async function writeMark(reader: AnyReader, database: string): Promise<string> {
  let tables: Record<string, string> | null = null;
  if (/^[A-Za-z0-9_]+$/.test(database)) {
    for (const view of ['INNODB_SYS_TABLESTATS', 'INNODB_TABLESTATS']) {
      const rows = await reader
        .all<{ name: string; modified: string | number }>(
          `SELECT name, modified_counter AS modified FROM information_schema.${view} WHERE name LIKE ?`,
          [`${database.replaceAll('_', '\\_')}/%`],
        )
        .catch(() => null);
      if (rows !== null) {
        // By table name alone: a restore reads the incoming tables' counters, which go on counting once renamed into place.
        tables = Object.fromEntries(rows.map((row) => [row.name.slice(row.name.indexOf('/') + 1), String(row.modified)]));
        break;
      }
    }
  }
  const rows = await reader.all<Record<string, string>>(
    `SHOW GLOBAL STATUS WHERE Variable_name IN (${WRITE_COUNTERS.map((name) => `'${name}'`).join(', ')})`,
  );
  return JSON.stringify({ server: String(rows.reduce((sum, row) => sum + BigInt(row.Value ?? row.VALUE ?? 0), 0n)), tables });
}

/**
 * Whether anything may have been written between two marks: the server's statement counters
 * moved, or a table's counter moved, or a table not loaded at the first mark counts modified rows.
 */
export function writtenBetween(before: string, now: string): boolean {
  const a = JSON.parse(before) as { server: string; tables: Record<string, string> | null };
  const b = JSON.parse(now) as { server: string; tables: Record<string, string> | null };
  if (a.server !== b.server) return true;
  if (a.tables === null || b.tables === null) return a.tables !== b.tables;
  return Object.entries(b.tables).some(([table, count]) => (table in a.tables! ? a.tables![table] !== count : count !== '0'));
}

interface SchemaCode {
  /** CREATE statements to run in the live database once the tables are in. */
  readonly create: string[];
}

/**
 * What a database holds beside its tables, as the CREATE statements that make it again in
 * another database: views (their own database's name taken out of their definition), triggers,
 * routines and events.
 */
async function schemaCode(
  connection: MyConnection,
  database: string,
): Promise<SchemaCode & { readonly triggers: string[]; readonly views: string[] }> {
  const own = `${quoteMy(database)}.`;
  const names = (sql: string) => connection.all<{ name: string; kind?: string }>(sql, [database]);
  const create: string[] = [];
  const views = await names('SELECT table_name AS name FROM information_schema.views WHERE table_schema = ? ORDER BY table_name');
  for (const { name } of views) {
    const [row] = await connection.all<Record<string, string>>(`SHOW CREATE VIEW ${quoteMy(database)}.${quoteMy(name)}`);
    create.push(row!['Create View']!.replaceAll(own, ''));
  }
  const routines = await names(
    'SELECT routine_name AS name, routine_type AS kind FROM information_schema.routines WHERE routine_schema = ? ORDER BY routine_name',
  );
  for (const { name, kind } of routines) {
    const label = kind === 'FUNCTION' ? 'Function' : 'Procedure';
    const [row] = await connection.all<Record<string, string>>(`SHOW CREATE ${kind} ${quoteMy(database)}.${quoteMy(name)}`);
    create.push(row![`Create ${label}`]!);
  }
  const events = await names('SELECT event_name AS name FROM information_schema.events WHERE event_schema = ? ORDER BY event_name');
  for (const { name } of events) {
    const [row] = await connection.all<Record<string, string>>(`SHOW CREATE EVENT ${quoteMy(database)}.${quoteMy(name)}`);
    create.push(row!['Create Event']!);
  }
  const triggers = await names(
    'SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = ? ORDER BY event_object_table, action_order',
  );
  for (const { name } of triggers) {
    const [row] = await connection.all<Record<string, string>>(`SHOW CREATE TRIGGER ${quoteMy(database)}.${quoteMy(name)}`);
    create.push(row!['SQL Original Statement']!);
  }
  return {
    create,
    triggers: triggers.map((trigger) => `DROP TRIGGER IF EXISTS ${quoteMy(database)}.${quoteMy(trigger.name)}`),
    views: views.map((view) => `DROP VIEW IF EXISTS ${quoteMy(database)}.${quoteMy(view.name)}`),
  };
}

async function baseTables(connection: MyConnection, database: string): Promise<string[]> {
  const rows = await connection.all<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
    [database],
  );
  return rows.map((row) => row.name);
}

async function dropRoutinesAndEvents(connection: MyConnection, database: string): Promise<void> {
  const routines = await connection.all<{ name: string; kind: string }>(
    'SELECT routine_name AS name, routine_type AS kind FROM information_schema.routines WHERE routine_schema = ?',
    [database],
  );
  for (const routine of routines) await connection.exec(`DROP ${routine.kind} IF EXISTS ${quoteMy(database)}.${quoteMy(routine.name)}`);
  const events = await connection.all<{ name: string }>('SELECT event_name AS name FROM information_schema.events WHERE event_schema = ?', [
    database,
  ]);
  for (const event of events) await connection.exec(`DROP EVENT IF EXISTS ${quoteMy(database)}.${quoteMy(event.name)}`);
}

/**
 * Puts the tables of `incoming` (a scratch database the backup was loaded into) in place of the
 * live database's, in one `RENAME TABLE` (atomic across all of them: the application sees the
 * old tables or the new, never a mix), the live ones moved into `replaced` (another scratch
 * database), which then holds the database exactly as it was at the swap: every row committed
 * before it, none after. Views, triggers, routines and events are made again from the incoming
 * database's (a table with triggers cannot move to another database, so the live triggers are
 * dropped just before the swap, and made again if the swap fails). Returns the write mark of the
 * incoming tables read just before the swap.
 */
export async function swapTables(server: MyServer, incoming: string, replaced: string, lockWaitSeconds: number): Promise<string> {
  const live = server.database;
  return withMy(
    server,
    async (connection) => {
      const incomingCode = await schemaCode(connection, incoming);
      const liveCode = await schemaCode(connection, live);
      for (const statement of [...incomingCode.triggers, ...incomingCode.views]) await connection.exec(statement);
      const moves = [
        ...(await baseTables(connection, live)).map(
          (table) => `${quoteMy(live)}.${quoteMy(table)} TO ${quoteMy(replaced)}.${quoteMy(table)}`,
        ),
        ...(await baseTables(connection, incoming)).map(
          (table) => `${quoteMy(incoming)}.${quoteMy(table)} TO ${quoteMy(live)}.${quoteMy(table)}`,
        ),
      ];
      // Waits this long for the application's open transactions on those tables (their rows go
      // with the old tables), then gives up with nothing changed.
      await connection.exec(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.round(lockWaitSeconds))}`);
      await connection.exec('SET SESSION foreign_key_checks = 0');
      for (const statement of liveCode.triggers) await connection.exec(statement);
      // Nobody writes the incoming tables before the swap: what their counters show then is the
      // restore's own doing, anything more after it the application's.
      const mark = await writeMark(connection, incoming);
      try {
        if (moves.length > 0) await connection.exec(`RENAME TABLE ${moves.join(', ')}`);
      } catch (error) {
        await connection.exec(`USE ${quoteMy(live)}`);
        for (const statement of liveCode.create.filter((text) => /\bTRIGGER\b/i.test(text.slice(0, 200))))
          await connection.exec(statement).catch(() => undefined);
        throw error;
      }
      await connection.exec(`USE ${quoteMy(live)}`);
      for (const statement of liveCode.views) await connection.exec(statement);
      await dropRoutinesAndEvents(connection, live);
      for (const statement of incomingCode.create) await connection.exec(statement);
      return mark;
    },
    null,
  );
}
