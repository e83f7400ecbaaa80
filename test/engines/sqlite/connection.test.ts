import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteConnection, withConnection } from '../../../src/engines/sqlite/connection.ts';
import { exec, query } from '../../helpers/project.ts';

const sqlite3Path = createRequire(import.meta.url).resolve('sqlite3');

let folder: string;
let db: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-connection-'));
  db = path.join(folder, 'app.db');
  await exec(
    db,
    'PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, x BLOB); INSERT INTO t (x) VALUES (randomblob(10));',
  );
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** A writer SIGKILLed in the middle of a transaction big enough to spill: a hot journal stays beside the file. */
async function killWriterMidTransaction(): Promise<void> {
  const writer = execa(
    'node',
    [
      '-e',
      `const sqlite3 = require(${JSON.stringify(sqlite3Path)});
const db = new sqlite3.Database(${JSON.stringify(db)});
db.exec("BEGIN; INSERT INTO t (x) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) SELECT randomblob(1000) FROM n;", () => {
  console.log('written');
  setInterval(() => undefined, 1000);
});`,
    ],
    { reject: false },
  );
  await new Promise<void>((resolve) => writer.stdout!.once('data', () => resolve()));
  writer.kill('SIGKILL');
  await writer;
  expect((await stat(`${db}-journal`)).size).toBeGreaterThan(0);
}

describe('read-only connections on a database a killed writer left a hot journal beside', () => {
  // Regression (the torture found it: `restore-table --apply` after the application was SIGKILLed
  // mid-transaction exited 1 "SQLITE_READONLY"; fixed in connection.ts `openReadOnly`).
  it.each(['readonly', 'untouched'] as const)('%s: reads the committed rows (the journal rolled back), no error', async (mode) => {
    await killWriterMidTransaction();
    const open = mode === 'readonly' ? SqliteConnection.open(db, 'readonly') : SqliteConnection.openUntouched(db);
    const rows = await withConnection(open, (connection) => connection.all<{ n: number }>('SELECT COUNT(*) AS n FROM t'));
    expect(rows).toEqual([{ n: 1 }]);
    expect(existsSync(`${db}-journal`)).toBe(false);
    expect(await query(db, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  });
});
