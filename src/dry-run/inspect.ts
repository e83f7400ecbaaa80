import type { Knex } from 'knex';
import { quoteIdentifier } from '../db.ts';

export interface ColumnShape {
  readonly name: string;
  readonly notNull: boolean;
  readonly hasDefault: boolean;
}

/** Tables, their columns and row counts: what a dry run compares before and after a migration. */
export type SchemaShape = ReadonlyMap<string, { readonly columns: readonly ColumnShape[]; readonly rows: number }>;

export async function inspectSchema(knex: Knex): Promise<SchemaShape> {
  const tables = (await knex.raw(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  )) as { name: string }[];
  const shape = new Map<string, { columns: ColumnShape[]; rows: number }>();
  for (const { name } of tables) {
    const columns = (await knex.raw(`PRAGMA table_info(${quoteIdentifier(name)})`)) as {
      name: string;
      notnull: number;
      dflt_value: unknown;
    }[];
    const [count] = (await knex.raw(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(name)}`)) as { n: number }[];
    shape.set(name, {
      columns: columns.map((column) => ({ name: column.name, notNull: column.notnull === 1, hasDefault: column.dflt_value !== null })),
      rows: count?.n ?? 0,
    });
  }
  return shape;
}
