import { writeStreamAtomic } from '../../fs/atomic.ts';
import type { FileMode } from '../../fs/file-mode.ts';
import type { ForeignKeyViolation } from '../contract.ts';
import { quoteIdentifier, SqliteConnection, withConnection } from './connection.ts';
import { foreignKeyViolations, tableColumns } from './schema.ts';

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
  snapshot: string,
  table: string,
  out: string,
  header: readonly string[],
  mode: FileMode,
): Promise<number> {
  return withConnection(SqliteConnection.open(snapshot, 'readonly'), async (connection) => {
    const columns = await tableColumns(connection, table);
    let rows = 0;
    await writeStreamAtomic(
      out,
      async (write) => {
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
      },
      mode,
    );
    return rows;
  });
}

/**
 * Replaces the live table's rows with the snapshot's in one transaction, the snapshot ATTACHed
 * (names quoted, never spliced raw); rolled back when the result breaks a foreign key that
 * involves the table, unless forced.
 */
export async function replaceTableRows(
  database: string,
  snapshot: string,
  table: string,
  force: boolean,
): Promise<{ rows: number; violations: ForeignKeyViolation[]; committed: boolean }> {
  return withConnection(SqliteConnection.open(database, 'readwrite'), async (live) => {
    live.setBusyTimeout(30_000);
    await live.all('ATTACH DATABASE ? AS restore_source', [snapshot]);
    try {
      const quoted = quoteIdentifier(table);
      const columns = (await tableColumns(live, table, 'restore_source')).map(quoteIdentifier).join(', ');
      await live.exec('BEGIN IMMEDIATE');
      try {
        await live.exec(`DELETE FROM main.${quoted}`);
        await live.exec(`INSERT INTO main.${quoted} (${columns}) SELECT ${columns} FROM restore_source.${quoted}`);
        const rows = (await live.get<{ n: number }>(`SELECT COUNT(*) AS n FROM main.${quoted}`))?.n ?? 0;
        const violations = (await foreignKeyViolations(live)).filter((row) => row.table === table || row.parent === table);
        const committed = violations.length === 0 || force;
        await live.exec(committed ? 'COMMIT' : 'ROLLBACK');
        return { rows: committed ? rows : 0, violations, committed };
      } catch (error) {
        await live.exec('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      await live.exec('DETACH DATABASE restore_source').catch(() => undefined);
    }
  });
}
