import { copyFile, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';
import { GuardError } from './errors.ts';

/** A promise-returning handle over one raw sqlite3 connection. */
export class SqliteConnection {
  /** Removes a private copy the connection was opened on (see openUntouched). */
  private cleanup: (() => Promise<void>) | null = null;

  private constructor(
    readonly raw: sqlite3.Database,
    readonly file: string,
  ) {}

  static open(file: string, mode: 'readonly' | 'readwrite' | 'create' = 'readwrite'): Promise<SqliteConnection> {
    const flags =
      mode === 'readonly'
        ? sqlite3.OPEN_READONLY
        : mode === 'readwrite'
          ? sqlite3.OPEN_READWRITE
          : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    return SqliteConnection.openWith(file, file, flags);
  }

  /**
   * A read-only connection that writes no byte of the database's files, -wal and -shm included,
   * even while an application has it open in WAL mode. A plain read-only connection still writes
   * its read mark into the -shm file; `readonly_shm=1` makes SQLite read the WAL index without
   * writing it. With no -shm nobody has the file open: without WAL content `immutable=1` reads it
   * without creating -wal/-shm files; with WAL content left by a crashed writer, SQLite would have
   * to create a -shm to read it, so a private copy of the file and its -wal is read instead.
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
    const exists = (suffix: string) => stat(`${file}${suffix}`).then((info) => info.size, () => -1);
    let query = 'mode=ro';
    if (isWal) {
      if ((await exists('-shm')) >= 0) query = 'mode=ro&readonly_shm=1';
      else if ((await exists('-wal')) <= 0) query = 'immutable=1';
      else return SqliteConnection.openPrivateCopy(file);
    }
    return SqliteConnection.openWith(`${uri}?${query}`, file, sqlite3.OPEN_READONLY | sqlite3.OPEN_URI);
  }

  private static async openPrivateCopy(file: string): Promise<SqliteConnection> {
    const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-read-'));
    const copy = path.join(folder, 'copy.db');
    try {
      await copyFile(file, copy);
      await copyFile(`${file}-wal`, `${copy}-wal`);
      const connection = await SqliteConnection.openWith(copy, file, sqlite3.OPEN_READWRITE);
      connection.cleanup = () => rm(folder, { recursive: true, force: true });
      return connection;
    } catch (error) {
      await rm(folder, { recursive: true, force: true });
      throw error;
    }
  }

  private static openWith(name: string, file: string, flags: number): Promise<SqliteConnection> {
    return new Promise((resolve, reject) => {
      const raw = new sqlite3.Database(name, flags, (error) => {
        if (error) reject(error);
        else resolve(new SqliteConnection(raw, file));
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

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Refuses anything that is not a SQLite database before SQLite touches it: opening a random file
 * with sqlite3 can create -journal files beside it, and we promise to leave bad input untouched.
 * An empty file is a valid, empty SQLite database.
 */
export async function assertSqliteFile(file: string): Promise<{ readonly bytes: number }> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    throw new GuardError('DATABASE_MISSING', `database ${file} does not exist; check --db / DATABASE_URL`, {
      cause: error,
    });
  }
  if (!info.isFile()) throw new GuardError('NOT_SQLITE', `${file} is not a file; --db must name a SQLite database file`);
  if (info.size === 0) return { bytes: 0 };
  if (!(await hasSqliteHeader(file))) {
    throw new GuardError(
      'NOT_SQLITE',
      `${file} is not a SQLite database (bad header); it was left untouched. Check --db / DATABASE_URL`,
    );
  }
  return { bytes: info.size };
}

/** Whether the file starts with SQLite's 16-byte magic string. */
export async function hasSqliteHeader(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(SQLITE_HEADER.length);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    return bytesRead === header.length && header.equals(SQLITE_HEADER);
  } finally {
    await handle.close();
  }
}

/** Size of the database including its -wal file, which holds committed pages not yet checkpointed. */
export async function databaseBytes(file: string): Promise<number> {
  let total = 0;
  for (const candidate of [file, `${file}-wal`]) {
    try {
      total += (await stat(candidate)).size;
    } catch {
      // a missing -wal file is the normal case
    }
  }
  return total;
}

/** Resolves `DATABASE_URL` forms (`file:…`, `sqlite:…`, `sqlite://…`, a plain path) to a path. */
export function databasePathFromUrl(url: string, cwd: string): string {
  let value = url.trim();
  const withoutQuery = (v: string) => v.split('?')[0] ?? v;
  if (value.startsWith('sqlite://')) value = withoutQuery(value.slice('sqlite://'.length));
  else if (value.startsWith('sqlite:')) value = withoutQuery(value.slice('sqlite:'.length));
  else if (value.startsWith('file://')) value = withoutQuery(decodeURIComponent(value.slice('file://'.length)));
  else if (value.startsWith('file:')) value = withoutQuery(decodeURIComponent(value.slice('file:'.length)));
  if (value === '' || value === ':memory:') {
    throw new GuardError('USAGE', `DATABASE_URL "${url}" does not name a database file`);
  }
  return path.resolve(cwd, value);
}
