import { createHash } from 'node:crypto';
import type {
  AppliedReader,
  ChangedSet,
  ColumnShape,
  DatabaseFacts,
  ForeignKeyViolation,
  IntegrityLevel,
  IntegrityResult,
  Reader,
  SchemaShape,
} from '../contract.ts';
import { quoteMy } from './connection.ts';

/*
 * Every query names information_schema's columns with a lower-case alias: MySQL 8 returns them in
 * upper case, MariaDB in whatever case the query wrote them.
 */

/** The application's tables: the base tables of the connection's database (views are schema objects). */
export async function listMyTables(reader: Reader): Promise<string[]> {
  const rows = await reader.all<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  return rows.map((row) => row.name);
}

export async function myColumns(reader: Reader, table: string): Promise<string[]> {
  const rows = await reader.all<{ name: string }>(
    'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position',
    [table],
  );
  return rows.map((row) => row.name);
}

/**
 * Every schema object as text, in a stable order, without what a dump and its load may
 * legitimately differ in (the database's own name inside view definitions, AUTO_INCREMENT
 * counters, creation times): what the schema hash is taken over, so a restore proves it put back
 * the same tables, columns, indexes, foreign keys, views, triggers, routines and events.
 */
export async function mySchemaObjects(reader: Reader): Promise<{ type: string; name: string; definition: string }[]> {
  const [current] = await reader.all<{ db: string }>('SELECT DATABASE() AS db');
  const own = `${quoteMy(current?.db ?? '')}.`;
  const unqualified = (text: string | null) => (text ?? '').replaceAll(own, '');
  const rows = (sql: string) => reader.all<{ name: string; definition: string | null }>(sql);
  const tables = await rows(
    `SELECT table_name AS name, CONCAT_WS(' ', engine, table_collation) AS definition FROM information_schema.tables
      WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const columns = await rows(
    `SELECT CONCAT(table_name, '.', column_name) AS name,
            CONCAT_WS(' ', column_type, is_nullable, COALESCE(column_default, 'NULL'), extra, COALESCE(collation_name, '')) AS definition
       FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position`,
  );
  const indexes = await rows(
    `SELECT CONCAT(table_name, '.', index_name) AS name,
            CONCAT(IF(non_unique = 0, 'UNIQUE ', ''), index_type, ' (',
                   GROUP_CONCAT(CONCAT(column_name, COALESCE(CONCAT('(', sub_part, ')'), '')) ORDER BY seq_in_index SEPARATOR ', '), ')') AS definition
       FROM information_schema.statistics WHERE table_schema = DATABASE()
      GROUP BY table_name, index_name, non_unique, index_type ORDER BY table_name, index_name`,
  );
  const keys = await rows(
    `SELECT CONCAT(k.table_name, '.', k.constraint_name) AS name,
            CONCAT('(', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') REFERENCES ', k.referenced_table_name,
                   ' (', GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') ON UPDATE ', r.update_rule,
                   ' ON DELETE ', r.delete_rule) AS definition
       FROM information_schema.key_column_usage k
       JOIN information_schema.referential_constraints r
         ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name
      WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL
      GROUP BY k.table_name, k.constraint_name, k.referenced_table_name, r.update_rule, r.delete_rule ORDER BY 1`,
  );
  const views = await rows(
    'SELECT table_name AS name, view_definition AS definition FROM information_schema.views WHERE table_schema = DATABASE() ORDER BY table_name',
  );
  const triggers = await rows(
    `SELECT CONCAT(event_object_table, '.', trigger_name) AS name,
            CONCAT_WS(' ', action_timing, event_manipulation, action_statement) AS definition
       FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY 1`,
  );
  const routines = await rows(
    `SELECT CONCAT(routine_type, ' ', routine_name) AS name, routine_definition AS definition
       FROM information_schema.routines WHERE routine_schema = DATABASE() ORDER BY 1`,
  );
  const events = await rows(
    `SELECT event_name AS name, CONCAT_WS(' ', event_definition, status) AS definition
       FROM information_schema.events WHERE event_schema = DATABASE() ORDER BY 1`,
  );
  const tag = (type: string) => (row: { name: string; definition: string | null }) => ({
    type,
    name: row.name,
    definition: unqualified(row.definition),
  });
  return [
    ...tables.map(tag('table')),
    ...columns.map(tag('column')),
    ...indexes.map(tag('index')),
    ...keys.map(tag('foreign-key')),
    ...views.map(tag('view')),
    ...triggers.map(tag('trigger')),
    ...routines.map(tag('routine')),
    ...events.map(tag('event')),
  ];
}

export async function countRows(reader: Reader, table: string): Promise<number> {
  const [row] = await reader.all<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${quoteMy(table)}`);
  return Number(row?.n ?? 0);
}

export async function readMyFacts(reader: Reader, applied: AppliedReader): Promise<DatabaseFacts> {
  const [version] = await reader.all<{ version: string }>('SELECT VERSION() AS version');
  const objects = await mySchemaObjects(reader);
  const schemaHash = createHash('sha256').update(JSON.stringify(objects)).digest('hex');
  const tables: Record<string, number> = {};
  for (const table of await listMyTables(reader)) tables[table] = await countRows(reader, table);
  const engineVersion = version?.version ?? 'unknown';
  return {
    engine: 'mysql',
    engineVersion,
    schemaHash,
    tables,
    appliedMigrations: await applied(reader),
    details: { server: /mariadb/i.test(engineVersion) ? 'MariaDB' : 'MySQL' },
  };
}

export async function inspectMy(reader: Reader): Promise<SchemaShape> {
  const shape = new Map<string, { columns: ColumnShape[]; rows: number }>();
  for (const table of await listMyTables(reader)) {
    const columns = await reader.all<{ name: string; nullable: string; hasdefault: string | number; type: string }>(
      `SELECT column_name AS name, is_nullable AS nullable, column_type AS type,
              (column_default IS NOT NULL OR extra LIKE '%auto_increment%') AS hasdefault
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`,
      [table],
    );
    shape.set(table, {
      columns: columns.map((column) => ({
        name: column.name,
        notNull: column.nullable === 'NO',
        hasDefault: Number(column.hasdefault) === 1,
        type: column.type,
      })),
      rows: await countRows(reader, table),
    });
  }
  return shape;
}

/** A foreign key of the database, its columns in order. */
interface ForeignKey {
  readonly name: string;
  readonly child: string;
  readonly parent: string;
  readonly columns: { readonly child: string; readonly parent: string }[];
}

export async function myForeignKeys(reader: Reader): Promise<ForeignKey[]> {
  const rows = await reader.all<{ name: string; child: string; parent: string; childcolumn: string; parentcolumn: string }>(
    `SELECT constraint_name AS name, table_name AS child, referenced_table_name AS parent,
            column_name AS childcolumn, referenced_column_name AS parentcolumn
       FROM information_schema.key_column_usage
      WHERE table_schema = DATABASE() AND referenced_table_schema = DATABASE() AND referenced_table_name IS NOT NULL
      ORDER BY table_name, constraint_name, ordinal_position`,
  );
  const keys = new Map<string, ForeignKey>();
  for (const row of rows) {
    const id = `${row.child}.${row.name}`;
    const key = keys.get(id) ?? { name: row.name, child: row.child, parent: row.parent, columns: [] };
    key.columns.push({ child: row.childcolumn, parent: row.parentcolumn });
    keys.set(id, key);
  }
  return [...keys.values()];
}

/** The rows of `key`'s table that point at no row of its parent (a key column NULL points at nothing, by SQL's rule). */
export function orphansQuery(key: ForeignKey, limit: number | null = 100): string {
  const joined = key.columns.map((column) => `p.${quoteMy(column.parent)} = c.${quoteMy(column.child)}`).join(' AND ');
  const notNull = key.columns.map((column) => `c.${quoteMy(column.child)} IS NOT NULL`).join(' AND ');
  return `SELECT 1 AS orphan FROM ${quoteMy(key.child)} c LEFT JOIN ${quoteMy(key.parent)} p ON ${joined}
           WHERE ${notNull} AND p.${quoteMy(key.columns[0]!.parent)} IS NULL${limit === null ? '' : ` LIMIT ${limit}`}`;
}

/**
 * Rows pointing at rows that do not exist. InnoDB enforces foreign keys, but a session with
 * `SET FOREIGN_KEY_CHECKS = 0` (knex's table rebuilds, a bulk load) writes past them and nothing
 * checks afterwards: every key of the tables in `tables` (all when not given) is checked by query.
 */
export async function myForeignKeyViolations(reader: Reader, tables?: readonly string[]): Promise<ForeignKeyViolation[]> {
  const violations: ForeignKeyViolation[] = [];
  for (const key of await myForeignKeys(reader)) {
    if (tables !== undefined && !tables.includes(key.child)) continue;
    const rows = await reader.all(orphansQuery(key));
    violations.push(...rows.map(() => ({ table: key.child, row: null, parent: key.parent })));
  }
  return violations;
}

/** Where a violation can have appeared after a run that wrote `changed` (complete): the tables written, and those pointing at a table whose rows changed. */
export async function myForeignKeyViolationsAfter(reader: Reader, changed?: ChangedSet): Promise<ForeignKeyViolation[]> {
  if (changed === undefined || changed.unknown !== null) return myForeignKeyViolations(reader);
  const keys = await myForeignKeys(reader);
  const children = keys.filter((key) => changed.rowsChanged.includes(key.parent)).map((key) => key.child);
  return myForeignKeyViolations(reader, [...changed.tables, ...children]);
}

/**
 * `CHECK TABLE` of the tables the run wrote (every table when that set is unknown): InnoDB reads
 * the table's pages and each index against it. `quick` skips the row-by-row link checks.
 */
export async function myIntegrity(reader: Reader, level: IntegrityLevel, changed?: ChangedSet): Promise<IntegrityResult> {
  const existing = await listMyTables(reader);
  const known = changed !== undefined && changed.unknown === null;
  const tables = known ? existing.filter((table) => changed.tables.includes(table)) : existing;
  const problems: string[] = [];
  for (let start = 0; start < tables.length; start += 50) {
    const batch = tables.slice(start, start + 50);
    const rows = await reader.all<Record<string, string>>(
      `CHECK TABLE ${batch.map(quoteMy).join(', ')}${level === 'quick' ? ' QUICK' : ''}`,
    );
    for (const row of rows) {
      const type = String(row.Msg_type ?? row.MSG_TYPE ?? '').toLowerCase();
      const text = String(row.Msg_text ?? row.MSG_TEXT ?? '');
      if (type === 'error' || (type === 'status' && !/^(OK|Table is already up to date)$/i.test(text)))
        problems.push(`${row.Table ?? row.TABLE}: ${text}`);
    }
  }
  if (problems.length > 0) return { ok: false, detail: problems.slice(0, 5).join('; ') };
  return {
    ok: true,
    detail: `ok (CHECK TABLE${level === 'quick' ? ' QUICK' : ''} of ${known ? `what the run wrote: ${tables.join(', ') || 'no table'}` : `every table (${tables.length})`})`,
  };
}
