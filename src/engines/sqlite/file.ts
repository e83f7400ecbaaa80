import { stat } from 'node:fs/promises';
import path from 'node:path';
import { GuardError } from '../../errors.ts';
import { startsWith } from '../../fs/paths.ts';
import { redact, splitCredentials } from '../../redact.ts';

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
    throw new GuardError('NOT_SQLITE', `${file} is not a SQLite database (bad header); it was left untouched. Check --db / DATABASE_URL`);
  }
  return { bytes: info.size };
}

/** Whether the file starts with SQLite's 16-byte magic string. */
export function hasSqliteHeader(file: string): Promise<boolean> {
  return startsWith(file, SQLITE_HEADER);
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

/**
 * Resolves `DATABASE_URL` forms (`file:…`, `sqlite:…`, `sqlite://…`, a plain path) to a path. A
 * user name and password in the URL (SQLite has no users) are dropped, so they never become part
 * of the path every message and manifest shows.
 */
export function databasePathFromUrl(url: string, cwd: string): string {
  let value = splitCredentials(url.trim()).url;
  const withoutQuery = (v: string) => v.split('?')[0] ?? v;
  if (value.startsWith('sqlite://')) value = withoutQuery(value.slice('sqlite://'.length));
  else if (value.startsWith('sqlite:')) value = withoutQuery(value.slice('sqlite:'.length));
  else if (value.startsWith('file://')) value = withoutQuery(decodeURIComponent(value.slice('file://'.length)));
  else if (value.startsWith('file:')) value = withoutQuery(decodeURIComponent(value.slice('file:'.length)));
  if (value === '' || value === ':memory:') {
    throw new GuardError('USAGE', `DATABASE_URL "${redact(url)}" does not name a database file`);
  }
  return path.resolve(cwd, value);
}
