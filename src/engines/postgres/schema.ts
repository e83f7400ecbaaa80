import { createHash } from 'node:crypto';
import type { AppliedReader, ColumnShape, DatabaseFacts, ForeignKeyViolation, Reader, SchemaShape } from '../contract.ts';
import { quotePg } from './connection.ts';

/** The application's tables: ordinary and partitioned tables of the connection's schema (`public`). */
export async function listPgTables(reader: Reader): Promise<string[]> {
  const rows = await reader.all<{ name: string }>(
    "SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname",
  );
  return rows.map((row) => row.name);
}

export async function pgColumns(reader: Reader, table: string): Promise<string[]> {
  const rows = await reader.all<{ name: string }>(
    'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
    [table],
  );
  return rows.map((row) => row.name);
}

/**
 * Every schema object as text, in a stable order, without anything a dump and its restore may
 * legitimately differ in (owners, OIDs, a sequence's current value): what the schema hash is
 * taken over, so a restore proves it put back the same tables, columns, indexes, constraints,
 * views and triggers.
 */
export async function pgSchemaObjects(reader: Reader): Promise<{ type: string; name: string; definition: string }[]> {
  const columns = await reader.all<{ name: string; definition: string }>(
    `SELECT table_name || '.' || column_name AS name,
            concat_ws(' ', data_type, coalesce(character_maximum_length::text, ''), is_nullable, coalesce(column_default, '')) AS definition
       FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
  );
  const indexes = await reader.all<{ name: string; definition: string }>(
    'SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname',
  );
  const constraints = await reader.all<{ name: string; definition: string }>(
    `SELECT conrelid::regclass::text || '.' || conname AS name, pg_get_constraintdef(oid) AS definition
       FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1`,
  );
  const views = await reader.all<{ name: string; definition: string }>(
    'SELECT viewname AS name, definition FROM pg_views WHERE schemaname = current_schema() ORDER BY viewname',
  );
  const triggers = await reader.all<{ name: string; definition: string }>(
    `SELECT tgrelid::regclass::text || '.' || tgname AS name, pg_get_triggerdef(t.oid) AS definition
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`,
  );
  const tables = (await listPgTables(reader)).map((name) => ({ type: 'table', name, definition: '' }));
  const tag = (type: string) => (row: { name: string; definition: string }) => ({ type, ...row });
  return [
    ...tables,
    ...columns.map(tag('column')),
    ...indexes.map(tag('index')),
    ...constraints.map(tag('constraint')),
    ...views.map(tag('view')),
    ...triggers.map(tag('trigger')),
  ];
}

export async function readPgFacts(reader: Reader, applied: AppliedReader): Promise<DatabaseFacts> {
  const [version] = await reader.all<{ version: string; num: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  const objects = await pgSchemaObjects(reader);
  const schemaHash = createHash('sha256').update(JSON.stringify(objects)).digest('hex');
  const tables: Record<string, number> = {};
  for (const table of await listPgTables(reader)) {
    const [row] = await reader.all<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quotePg(table)}`);
    tables[table] = Number(row?.n ?? 0);
  }
  return {
    engine: 'postgres',
    engineVersion: version?.version ?? 'unknown',
    schemaHash,
    tables,
    appliedMigrations: await applied(reader),
    details: { serverVersionNum: Number(version?.num ?? 0) },
  };
}

export async function inspectPg(reader: Reader): Promise<SchemaShape> {
  const shape = new Map<string, { columns: ColumnShape[]; rows: number }>();
  for (const table of await listPgTables(reader)) {
    const columns = await reader.all<{ name: string; nullable: string; hasdefault: boolean; type: string }>(
      `SELECT column_name AS name, is_nullable AS nullable, column_default IS NOT NULL AS hasdefault,
              format_type(a.atttypid, a.atttypmod) AS type
         FROM information_schema.columns c
         JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
        WHERE c.table_schema = current_schema() AND c.table_name = ? ORDER BY c.ordinal_position`,
      [table],
    );
    const [count] = await reader.all<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quotePg(table)}`);
    shape.set(table, {
      columns: columns.map((column) => ({
        name: column.name,
        notNull: column.nullable === 'NO',
        hasDefault: column.hasdefault,
        type: column.type,
      })),
      rows: Number(count?.n ?? 0),
    });
  }
  return shape;
}

/**
 * Rows pointing at rows that do not exist. PostgreSQL enforces foreign keys itself, so one can
 * only be there behind a constraint that is `NOT VALID`, or one whose checks were switched off (a
 * session in `session_replication_role = replica`, triggers disabled): every foreign key of the
 * tables in `tables` (all of them when not given) is checked row by row.
 */
export async function pgForeignKeyViolations(reader: Reader, tables?: readonly string[]): Promise<ForeignKeyViolation[]> {
  const keys = await reader.all<{ child: string; childname: string; parent: string; definition: string }>(
    `SELECT conrelid::regclass::text AS child, c.relname AS childname, confrelid::regclass::text AS parent, pg_get_constraintdef(k.oid) AS definition
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
      WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace`,
  );
  const violations: ForeignKeyViolation[] = [];
  for (const key of keys.filter((candidate) => tables === undefined || tables.includes(candidate.childname))) {
    const match = /FOREIGN KEY \((.+?)\) REFERENCES (.+?)\((.+?)\)/.exec(key.definition);
    if (!match) continue;
    const childColumns = match[1]!.split(',').map((column) => column.trim());
    const parentColumns = match[3]!.split(',').map((column) => column.trim());
    const joined = childColumns.map((column, index) => `c.${column} = p.${parentColumns[index]}`).join(' AND ');
    const notNull = childColumns.map((column) => `c.${column} IS NOT NULL`).join(' AND ');
    const rows = await reader.all<{ ctid: string }>(
      `SELECT c.ctid::text AS ctid FROM ${key.child} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${match[2]} p WHERE ${joined}) LIMIT 100`,
    );
    violations.push(...rows.map((row) => ({ table: key.childname, row: row.ctid, parent: key.parent })));
  }
  return violations;
}
