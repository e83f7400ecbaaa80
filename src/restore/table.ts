import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { quoteIdentifier, type SqliteConnection } from '../db.ts';
import { GuardError } from '../errors.ts';
import { fsyncPath, removeIfPresent } from '../files.ts';

/** The table's columns, in order; refuses a name that is not a table (the name is bound, never spliced). */
export async function tableColumns(connection: SqliteConnection, schema: 'main' | 'restore_source', table: string, where: string): Promise<string[]> {
  const found = await connection.get(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' AND name = ?`, [table]);
  if (!found) {
    const tables = await connection.all<{ name: string }>(
      `SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    );
    throw new GuardError('USAGE', `no table ${JSON.stringify(table)} in ${where}; its tables are: ${tables.map((t) => t.name).join(', ') || 'none'}`);
  }
  const columns = await connection.all<{ name: string }>(`PRAGMA ${schema}.table_info(${quoteIdentifier(table)})`);
  return columns.map((column) => column.name);
}

/** A SQL literal for a value SQLite gave back. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (Buffer.isBuffer(value)) return `X'${value.toString('hex')}'`;
  return `'${String(value).replaceAll("'", "''")}'`;
}

/**
 * Writes a table's rows as reviewable SQL: a header saying where they came from, then one
 * transaction of INSERTs. Rows are streamed (memory stays flat); the file appears only when whole.
 */
export async function exportTableSql(
  connection: SqliteConnection,
  table: string,
  columns: readonly string[],
  out: string,
  header: readonly string[],
): Promise<number> {
  const temporary = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}`);
  const stream = createWriteStream(temporary);
  const write = async (text: string) => {
    if (!stream.write(text)) await once(stream, 'drain');
  };
  let rows = 0;
  try {
    for (const line of header) await write(`-- ${line}\n`);
    await write('BEGIN;\n');
    const prefix = `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES (`;
    // Pull one row at a time (Statement#get steps the cursor), so rows never pile up in memory.
    const statement = connection.raw.prepare(
      `SELECT ${columns.map(quoteIdentifier).join(', ')} FROM ${quoteIdentifier(table)} ORDER BY rowid`,
    );
    const next = () =>
      new Promise<Record<string, unknown> | undefined>((resolve, reject) =>
        statement.get((error: Error | null, row?: Record<string, unknown>) => (error ? reject(error) : resolve(row))),
      );
    try {
      for (let row = await next(); row !== undefined; row = await next()) {
        rows += 1;
        await write(`${prefix}${columns.map((column) => sqlLiteral(row![column])).join(', ')});\n`);
      }
    } finally {
      await new Promise<void>((resolve) => statement.finalize(() => resolve()));
    }
    await write('COMMIT;\n');
    stream.end();
    await once(stream, 'finish');
    await fsyncPath(temporary);
    await rename(temporary, out);
    return rows;
  } catch (error) {
    stream.destroy();
    await removeIfPresent(temporary);
    throw error;
  }
}
