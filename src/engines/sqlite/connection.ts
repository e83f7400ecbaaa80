import { copyFile, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';
import { createFileIfMissing, PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { pathExists } from '../../fs/paths.ts';
import type { Reader } from '../contract.ts';

/** A promise-returning handle over one raw sqlite3 connection; a Reader for checks and proofs. */
export class SqliteConnection implements Reader {
  /** Removes a private copy the connection was opened on (see openUntouched). */
  private cleanup: (() => Promise<void>) | null = null;

  private constructor(readonly raw: sqlite3.Database) {}

  /**
   * `create` makes a missing file 0600 first (SQLite would create it 0644 less the umask): a new
   * database, a restore into a missing one, a drill's scratch database, the lock file.
   */
  static async open(file: string, mode: 'readonly' | 'readwrite' | 'create' = 'readwrite'): Promise<SqliteConnection> {
    // Not for SQLite's special names: an in-memory or a temporary database is no file of ours.
    if (mode === 'create' && file !== '' && file !== ':memory:' && !file.startsWith('file:'))
      await createFileIfMissing(file, PRIVATE_FILE_MODE);
    if (mode === 'readonly')
      return SqliteConnection.openReadOnly(file, file, sqlite3.OPEN_READONLY, !file.startsWith('file:') && file !== ':memory:');
    return SqliteConnection.openWith(file, mode === 'readwrite' ? sqlite3.OPEN_READWRITE : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE);
  }

  /**
   * A read-only connection that writes no byte of the database's files, -wal and -shm included,
   * even while an application has it open in WAL mode. A plain read-only connection still writes
   * its read mark into the -shm file; `readonly_shm=1` makes SQLite read the WAL index without
   * writing it. With no -shm nobody has the file open: without WAL content `immutable=1` reads it
   * without creating -wal/-shm files; with WAL content left by a crashed writer, SQLite would have
   * to create a -shm to read it, so a private copy of the file and its -wal is read instead.
   * A hot rollback journal is rolled back first (see openReadOnly).
   */
  static async openUntouched(file: string): Promise<SqliteConnection> {
    const uri = pathToFileURL(path.resolve(file)).href;
    const header = Buffer.alloc(20);
    const handle = await open(file, 'r');
    try {
      await handle.read(header, 0, 20, 0);
    } finally {
      await handle.close();
    }
    const isWal = header[18] === 2;
    const exists = (suffix: string) =>
      stat(`${file}${suffix}`).then(
        (info) => info.size,
        () => -1,
      );
    let query = 'mode=ro';
    if (isWal) {
      if ((await exists('-shm')) >= 0) query = 'mode=ro&readonly_shm=1';
      else if ((await exists('-wal')) <= 0) query = 'immutable=1';
      else return SqliteConnection.openPrivateCopy(file, '-wal');
    }
    return SqliteConnection.openReadOnly(file, `${uri}?${query}`, sqlite3.OPEN_READONLY | sqlite3.OPEN_URI, !isWal);
  }

  /**
   * A read-only connection that works on a database a dead writer left a hot rollback journal
   * beside: a read-only connection cannot roll it back and refuses to read, so a read-write
   * connection opened once rolls it back, under SQLite's own locks, as any application's next
   * open would (copying the file and the journal instead would race a live writer's journal
   * coming and going). A live writer's journal is not hot: reads work at once.
   */
  private static async openReadOnly(file: string, name: string, flags: number, mayHaveJournal: boolean): Promise<SqliteConnection> {
    const reader = await SqliteConnection.openWith(name, flags);
    if (!mayHaveJournal || !(await pathExists(`${file}-journal`))) return reader;
    try {
      await reader.all('SELECT COUNT(*) FROM sqlite_master');
      return reader;
    } catch (error) {
      await reader.close().catch(() => undefined);
      if ((error as { code?: string }).code !== 'SQLITE_READONLY') throw error;
    }
    await withConnection(SqliteConnection.openWith(file, sqlite3.OPEN_READWRITE), (rollsBack) => {
      rollsBack.setBusyTimeout(10_000);
      return rollsBack.all('SELECT COUNT(*) FROM sqlite_master');
    });
    return SqliteConnection.openWith(name, flags);
  }

  private static async openPrivateCopy(file: string, sidecar: '-wal'): Promise<SqliteConnection> {
    const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-read-'));
    const copy = path.join(folder, 'copy.db');
    try {
      await copyFile(file, copy);
      await copyFile(`${file}${sidecar}`, `${copy}${sidecar}`);
      const connection = await SqliteConnection.openWith(copy, sqlite3.OPEN_READWRITE);
      connection.cleanup = () => rm(folder, { recursive: true, force: true });
      return connection;
    } catch (error) {
      await rm(folder, { recursive: true, force: true });
      throw error;
    }
  }

  private static openWith(name: string, flags: number): Promise<SqliteConnection> {
    return new Promise((resolve, reject) => {
      const raw = new sqlite3.Database(name, flags, (error) => {
        if (error) reject(error);
        else resolve(new SqliteConnection(raw));
      });
    });
  }

  all<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.raw.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as T[])));
    });
  }

  async get<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    const rows = await this.all<T>(sql, params);
    return rows[0];
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.raw.exec(sql, (error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.raw.close((error) => (error ? reject(error) : resolve()));
    });
    await this.cleanup?.();
  }

  setBusyTimeout(ms: number): void {
    this.raw.configure('busyTimeout', ms);
  }
}

/** Quotes an identifier for SQLite, so a table called `x"; DROP TABLE y; --` stays a name. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Opens, works, closes: the connection never outlives the work, whatever it throws. */
export async function withConnection<T>(
  opening: Promise<SqliteConnection>,
  work: (connection: SqliteConnection) => Promise<T>,
): Promise<T> {
  const connection = await opening;
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}
