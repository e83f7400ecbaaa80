import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Engine, KnexHandle } from '../../src/engines/contract.ts';
import { postgresEngine } from '../../src/engines/postgres/engine.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import { locate, runSqlFile, SqlStatementError } from '../../src/migrator/sql-file.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';

describe('locate', () => {
  const sql = 'SELECT 1;\n\n  SELECT x,\n    nope FROM t;';
  const statement = { text: 'SELECT x,\n    nope FROM t', offset: sql.indexOf('SELECT x') };

  it("maps the database's 1-based position in the statement to the file's line and column", () => {
    expect(locate(sql, statement, statement.text.indexOf('nope') + 1)).toEqual({ line: 4, column: 5 });
    expect(locate(sql, statement, 1)).toEqual({ line: 3, column: 3 });
  });

  it("is the statement's start without a position", () => {
    expect(locate(sql, statement, null)).toEqual({ line: 3, column: 3 });
  });

  it('counts characters as the database does, not UTF-16 units', () => {
    const emoji = "SELECT '😀😀' AS a, nope";
    // PostgreSQL counts each emoji as one character; JavaScript strings as two units.
    const position = Array.from(emoji).indexOf('n') + 1;
    expect(locate(emoji, { text: emoji, offset: 0 }, position)).toEqual({ line: 1, column: position });
  });
});

describe.each([
  {
    kind: 'sqlite',
    open: async (dir: string) => ({ engine: sqliteEngine(path.join(dir, 'app.db')), drop: async () => undefined }),
    broken: 'CREATE TABLE fine (id INT);\n\nCREAT TABLE oops (id INT);\n',
    expected: {
      line: 3,
      column: 1,
      code: 'SQLITE_ERROR',
      databaseMessage: 'near "CREAT": syntax error',
      statement: 'CREAT TABLE oops (id INT)',
    },
    label: 'SQLITE_ERROR',
  },
  {
    kind: 'postgres',
    open: async (dir: string) => {
      const db: TestDatabase = await postgresDatabase('mg_sqlfile');
      return { engine: postgresEngine(db.url, { stateDir: dir }), drop: () => db.drop() };
    },
    broken: 'CREATE TABLE fine (id int);\n\nCREATE TABLE oops (id int,\n  name txet);\n',
    expected: {
      line: 4,
      column: 8,
      code: '42704',
      databaseMessage: 'type "txet" does not exist',
      statement: 'CREATE TABLE oops (id int, name txet)',
    },
    label: 'SQLSTATE 42704',
  },
] as const)('runSqlFile on $kind', ({ open, broken, expected, label }) => {
  let dir: string;
  let engine: Engine;
  let drop: () => Promise<void>;
  let handle: KnexHandle;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-sql-file-'));
    ({ engine, drop } = await open(dir));
    if ((await engine.probe()) === 'missing') await engine.create();
  });
  afterAll(async () => {
    await drop?.();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    handle = await engine.openKnex();
  });
  afterEach(async () => {
    await handle.destroy();
  });

  const write = async (name: string, sql: string) => {
    const file = path.join(dir, name);
    await writeFile(file, sql);
    return file;
  };

  it("reports a refused statement with the database's message and code, at its line and column in the file", async () => {
    const file = await write('broken.sql', broken);
    const error = await runSqlFile(handle.knex, engine, file).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SqlStatementError);
    const failure = error as SqlStatementError;
    expect(failure).toMatchObject({ file, ...expected });
    // The file is outside the working directory: named in full.
    expect(failure.message).toBe(
      `${file} line ${expected.line}, column ${expected.column}, ${label}: ${expected.databaseMessage}\nstatement: ${expected.statement}`,
    );
    // The statements before it ran: the caller's transaction is what undoes them.
    expect(await engine.columns(engine.reader(handle.knex), 'fine')).toEqual(['id']);
  });

  it('sends a statement as written: a ? is not a knex placeholder', async () => {
    const file = await write('question.sql', "CREATE TABLE q (v TEXT);\nINSERT INTO q (v) VALUES ('what?');\n");
    await runSqlFile(handle.knex, engine, file);
    expect(await engine.reader(handle.knex).all('SELECT v FROM q')).toEqual([{ v: 'what?' }]);
  });
});
