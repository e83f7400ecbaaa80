/**
 * The torture's own reads of a database (the oracle): plain sqlite3 connections, independent of
 * the code under test, which runs in its own processes.
 */
import { createHash } from 'node:crypto';
import { SqliteConnection } from '../src/engines/sqlite/connection.ts';
import { WRITER_TABLES } from './fixture.ts';

export async function withDb<T>(
  file: string,
  mode: 'readonly' | 'readwrite' | 'create',
  work: (db: SqliteConnection) => Promise<T>,
): Promise<T> {
  const db = await SqliteConnection.open(file, mode);
  try {
    db.setBusyTimeout(30_000);
    return await work(db);
  } finally {
    await db.close();
  }
}

export function sqlExec(file: string, sql: string): Promise<void> {
  return withDb(file, 'create', (db) => db.exec(sql));
}

/** Tables that are not the content a command is judged on: the writer's, and Litestream's bookkeeping. */
export function isSideTable(name: string): boolean {
  return (WRITER_TABLES as readonly string[]).includes(name) || name.startsWith('_litestream_') || name.startsWith('sqlite_');
}

/** History rows without their timestamps and durations, which differ from run to run by nature. */
const HISTORY_COLUMNS: Record<string, string> = { migrate_guard_migrations: 'name, checksum' };

/**
 * The logical content, as `sqlite3 .dump` would show it, hashed: every schema object's SQL, then
 * every table's rows in rowid order, without the side tables (compared on their own) and without
 * the history's timestamps. Equal hashes mean equal data, whatever the page layout or journal mode.
 */
export async function contentHash(db: SqliteConnection): Promise<string> {
  const hash = createHash('sha256');
  const schema = await db.all<{ type: string; name: string; tbl_name: string; sql: string | null }>(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
  );
  for (const entry of schema) {
    if (isSideTable(entry.tbl_name)) continue;
    hash.update(`${entry.type} ${entry.name}: ${entry.sql}\n`);
  }
  for (const entry of schema) {
    if (entry.type !== 'table' || isSideTable(entry.name)) continue;
    const quoted = `"${entry.name.replaceAll('"', '""')}"`;
    const columns = HISTORY_COLUMNS[entry.name];
    const rows = await db.all(columns ? `SELECT ${columns} FROM ${quoted} ORDER BY name` : `SELECT * FROM ${quoted} ORDER BY rowid`);
    for (const row of rows) hash.update(`${entry.name} ${JSON.stringify(row)}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

export async function fileContentHash(file: string): Promise<string> {
  return withDb(file, 'readonly', contentHash);
}
