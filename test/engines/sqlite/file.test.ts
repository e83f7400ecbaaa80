import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { quoteIdentifier, SqliteConnection } from '../../../src/engines/sqlite/connection.ts';
import { assertSqliteFile, databasePathFromUrl } from '../../../src/engines/sqlite/file.ts';
import { integrityCheck } from '../../../src/engines/sqlite/integrity.ts';
import { TempProject, exec } from '../../helpers/project.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

describe('database helpers', () => {
  it('resolves the DATABASE_URL forms of the contract', () => {
    expect(databasePathFromUrl('./a.db', '/srv/app')).toBe('/srv/app/a.db');
    expect(databasePathFromUrl('file:./a.db', '/srv/app')).toBe('/srv/app/a.db');
    expect(databasePathFromUrl('file:///var/db/a.db', '/srv/app')).toBe('/var/db/a.db');
    expect(databasePathFromUrl('sqlite:./a.db', '/srv/app')).toBe('/srv/app/a.db');
    expect(databasePathFromUrl('sqlite:///var/db/a.db?mode=rwc', '/srv/app')).toBe('/var/db/a.db');
    expect(() => databasePathFromUrl('sqlite::memory:', '/srv/app')).toThrow(/does not name a database file/);
  });

  it('keeps a hostile table name a name', async () => {
    const hostile = 'x"; DROP TABLE victims; --';
    await exec(project.db, `CREATE TABLE victims (v); CREATE TABLE ${quoteIdentifier(hostile)} (a);`);
    const connection = await SqliteConnection.open(project.db, 'readonly');
    try {
      expect(await connection.all(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(hostile)}`)).toEqual([{ n: 0 }]);
      expect(await connection.all("SELECT name FROM sqlite_master WHERE name = 'victims'")).toEqual([{ name: 'victims' }]);
    } finally {
      await connection.close();
    }
  });

  it('refuses a non-SQLite file by its header', async () => {
    const file = path.join(project.dir, 'notes.txt');
    await writeFile(file, 'SQLite format 2 but not really');
    await expect(assertSqliteFile(file)).rejects.toMatchObject({ code: 'NOT_SQLITE' });
    await expect(assertSqliteFile(path.join(project.dir, 'missing.db'))).rejects.toMatchObject({ code: 'DATABASE_MISSING' });
  });

  it('calls a database healthy only on exactly one row "ok"', async () => {
    await exec(project.db, 'CREATE TABLE t (a); INSERT INTO t VALUES (1);');
    const connection = await SqliteConnection.open(project.db, 'readonly');
    try {
      expect(await integrityCheck(connection, 'full')).toEqual({ ok: true, detail: 'ok' });
      expect(await integrityCheck(connection, 'quick')).toEqual({ ok: true, detail: 'ok' });
    } finally {
      await connection.close();
    }
  });
});
