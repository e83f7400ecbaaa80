import type { ForeignKeyViolation, Reader } from '../contract.ts';
import { quoteIdentifier } from './connection.ts';

/** The application's tables, SQLite's own (`sqlite_%`) left out, by name. */
export async function listTables(reader: Reader, schema: 'main' | 'restore_source' = 'main'): Promise<string[]> {
  const rows = await reader.all<{ name: string }>(
    `SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
  );
  return rows.map((row) => row.name);
}

/** Every schema object but SQLite's own, in a stable order: what a schema hash is taken over. */
export function schemaObjects(reader: Reader): Promise<{ type: string; name: string; tbl_name: string; sql: string | null }[]> {
  return reader.all("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
}

export async function tableColumns(reader: Reader, table: string, schema: 'main' | 'restore_source' = 'main'): Promise<string[]> {
  const columns = await reader.all<{ name: string }>(`PRAGMA ${schema}.table_info(${quoteIdentifier(table)})`);
  return columns.map((column) => column.name);
}

export async function foreignKeyViolations(reader: Reader, schema: 'main' | 'restore_source' = 'main'): Promise<ForeignKeyViolation[]> {
  const rows = await reader.all<{ table: string; rowid: number | null; parent: string }>(`PRAGMA ${schema}.foreign_key_check`);
  return rows.map((row) => ({ table: row.table, row: row.rowid === null ? null : String(row.rowid), parent: row.parent }));
}
