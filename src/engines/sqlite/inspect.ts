import type { ColumnShape, Reader, SchemaShape } from '../contract.ts';
import { quoteIdentifier } from './connection.ts';
import { listTables } from './schema.ts';

/** Tables, their columns and row counts, read through the executor the migration used. */
export async function inspectSchema(reader: Reader): Promise<SchemaShape> {
  const shape = new Map<string, { columns: ColumnShape[]; rows: number }>();
  for (const name of await listTables(reader)) {
    const columns = await reader.all<{ name: string; notnull: number; dflt_value: unknown; type: string }>(
      `PRAGMA table_info(${quoteIdentifier(name)})`,
    );
    const [count] = await reader.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(name)}`);
    shape.set(name, {
      columns: columns.map((column) => ({
        name: column.name,
        notNull: column.notnull === 1,
        hasDefault: column.dflt_value !== null,
        type: column.type,
      })),
      rows: count?.n ?? 0,
    });
  }
  return shape;
}
