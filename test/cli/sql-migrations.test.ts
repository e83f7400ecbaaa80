import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { splitPostgresSql } from '../../src/engines/postgres/sql-split.ts';
import { postgresDatabase, sqliteDatabase, type TestDatabase } from '../helpers/databases.ts';
import { parseReport, TempProject } from '../helpers/project.ts';

/**
 * `.sql` migrations through the real CLI: each engine splits them by its own grammar, runs what
 * the dry run lists, and reports a statement the database refused with the database's own
 * message and code at the file's line and column, in every output.
 */

/** The most ordinary PostgreSQL migration there is, one construct after the other. */
const COUNTERS = `-- counters, kept up to date by a plpgsql trigger
CREATE TABLE counters (id serial PRIMARY KEY, label text NOT NULL, bumps int NOT NULL DEFAULT 0);

CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.bumps := NEW.bumps + 1; -- a ; inside the body
  RETURN NEW;
END;
$$;

CREATE TRIGGER counters_bump BEFORE INSERT OR UPDATE ON counters FOR EACH ROW EXECUTE FUNCTION bump();

DO $body$
BEGIN
  INSERT INTO counters (label) VALUES ('from the DO block; with a semicolon');
END
$body$;

INSERT INTO counters (label) VALUES (E'it\\'s; fine');

/* an outer comment; /* a nested one; */ still the outer one; */
CREATE FUNCTION label_count() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
  SELECT count(*) FROM counters;
END;

INSERT INTO counters (label) VALUES ('what?');
`;

/** Every line of the hook's MIGRATE_GUARD_ERROR, as the hook saw it. */
const ERROR_HOOK = `export default { hooks: { onFailure: 'printf "%s" "$MIGRATE_GUARD_ERROR" > error.log' } };`;

describe('.sql migrations on PostgreSQL', () => {
  let project: TempProject;
  let db: TestDatabase;
  const cli = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: db.url } });

  beforeEach(async () => {
    project = await TempProject.create();
    db = await postgresDatabase('mg_sql');
  });
  afterEach(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  it('runs each construct and creates what it says; the dry run lists exactly the statements that run', async () => {
    await project.writeMigration('001_counters.sql', COUNTERS);
    const statements = splitPostgresSql(COUNTERS).map((statement) => statement.text);
    expect(statements).toHaveLength(7);

    const dry = await cli(['migrate', '--dry-run', '--json']);
    expect(dry.exitCode, dry.all).toBe(0);
    const listed: string[] = parseReport(dry.stdout).plan[0].sql;
    // The rehearsal's transaction around them, and the statements, in the file's order.
    expect(listed.filter((sql) => sql !== 'BEGIN')).toEqual(statements);

    const run = await cli(['migrate', '--json']);
    expect(run.exitCode, run.all).toBe(0);
    expect(parseReport(run.stdout).applied).toEqual(['001_counters']);
    expect(await db.query('SELECT label, bumps FROM counters ORDER BY id')).toEqual([
      { label: 'from the DO block; with a semicolon', bumps: 1 },
      { label: "it's; fine", bumps: 1 },
      { label: 'what?', bumps: 1 },
    ]);
    expect(await db.query('SELECT label_count() AS n')).toEqual([{ n: '3' }]);
    expect(await db.query("SELECT tgname FROM pg_trigger WHERE tgrelid = 'counters'::regclass AND NOT tgisinternal")).toEqual([
      { tgname: 'counters_bump' },
    ]);
    await db.exec("UPDATE counters SET label = 'again' WHERE id = 1");
    expect(await db.query('SELECT bumps FROM counters WHERE id = 1')).toEqual([{ bumps: 2 }]);
  });

  it("shows PostgreSQL's message, SQLSTATE and the file's line for a misspelled keyword, in every output; exit 2, the database unchanged", async () => {
    // Content for "unchanged" to mean something, as the application wrote it.
    await db.exec(COUNTERS);
    await project.writeMigration(
      '002_broken.sql',
      'CREATE TABLE fine (id int);\nINSERT INTO fine VALUES (1);\nCREAT TABLE oops (id int);\n',
    );
    await project.writeConfig(ERROR_HOOK);
    const before = await db.dump();
    const where = 'migrations/002_broken.sql line 3, column 1, SQLSTATE 42601';
    const result = await cli(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(2);
    const { failed } = parseReport(result.stdout);
    expect(failed).toEqual({
      migration: '002_broken',
      phase: 'migrate',
      message: `${where}: syntax error at or near "CREAT"\nstatement: CREAT TABLE oops (id int)`,
      code: '42601',
      file: path.join(project.migrations, '002_broken.sql'),
      line: 3,
      column: 1,
      statement: 'CREAT TABLE oops (id int)',
    });
    expect(await readFile(path.join(project.dir, 'error.log'), 'utf8')).toBe(failed.message);
    expect(result.stderr).toContain(
      `  FAILED   002_broken: ${where}: syntax error at or near "CREAT"\n           statement: CREAT TABLE oops (id int)\n`,
    );
    expect(await db.dump()).toBe(before);
  });

  it("shows the same refusal in the dry run's plan", async () => {
    await project.writeMigration(
      '001_broken.sql',
      'CREATE TABLE fine (id int);\nINSERT INTO fine VALUES (1);\nCREAT TABLE oops (id int);\n',
    );
    const result = await cli(['migrate', '--dry-run', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    // The rehearsal's own reads after the failure (in an aborted transaction) do not hide it.
    expect(parseReport(result.stdout).plan[0]).toMatchObject({
      name: '001_broken',
      status: 'would-fail',
      error:
        'migrations/001_broken.sql line 3, column 1, SQLSTATE 42601: syntax error at or near "CREAT"\nstatement: CREAT TABLE oops (id int)',
    });
    const human = await cli(['migrate', '--dry-run']);
    expect(human.stderr).toContain(
      '    x ERROR migrations/001_broken.sql line 3, column 1, SQLSTATE 42601: syntax error at or near "CREAT"\n            statement: CREAT TABLE oops (id int)\n',
    );
    expect(await db.tables()).toEqual([]);
  });

  it('points an unterminated $$ at its line and column, and keeps a multi-line message whole', async () => {
    const unterminated =
      'CREATE TABLE fine (id int);\n\nCREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n';
    await project.writeMigration('001_unterminated.sql', unterminated);
    const before = await db.dump();
    const result = await cli(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(2);
    const { failed } = parseReport(result.stdout);
    expect(failed).toMatchObject({
      migration: '001_unterminated',
      code: '42601',
      line: 3,
      column: unterminated.split('\n')[2]!.indexOf('$$') + 1,
    });
    // PostgreSQL quotes the rest of the file, newlines and all: every line of it is reported.
    expect(failed.message).toContain('unterminated dollar-quoted string at or near "$$\nBEGIN\n  RETURN 1;\nEND;"');
    expect(await db.dump()).toBe(before);
    expect(await db.tables()).toEqual([]);
  });

  it("reports a DO block's error with its DETAIL, HINT and CONTEXT, at the block's line", async () => {
    await project.writeMigration(
      '001_raise.sql',
      "CREATE TABLE fine (id int);\n\nDO $body$\nBEGIN\n  RAISE EXCEPTION 'no fine today' USING DETAIL = 'two\nlines', HINT = 'try tomorrow';\nEND\n$body$;\n",
    );
    await project.writeConfig(ERROR_HOOK);
    const result = await cli(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(2);
    const { failed } = parseReport(result.stdout);
    expect(failed).toMatchObject({ code: 'P0001', line: 3, column: 1 });
    expect(failed.message).toMatch(
      /^migrations\/001_raise\.sql line 3, column 1, SQLSTATE P0001: no fine today\nDETAIL: two\nlines\nHINT: try tomorrow\nCONTEXT: PL\/pgSQL function inline_code_block line 3 at RAISE\nstatement: DO \$body\$ BEGIN/,
    );
    expect(await readFile(path.join(project.dir, 'error.log'), 'utf8')).toBe(failed.message);
    expect(result.stderr).toContain('\n           HINT: try tomorrow\n');
    expect(await db.tables()).toEqual([]);
  });
});

describe('.sql migrations on SQLite', () => {
  let project: TempProject;
  beforeEach(async () => {
    project = await TempProject.create();
  });
  afterEach(async () => {
    await project?.cleanup();
  });

  it('runs a trigger with CASE … END in its body, and reports a refused statement with SQLite’s message and the file line', async () => {
    const db = sqliteDatabase(project.db);
    await project.writeMigration(
      '001_shifts.sql',
      `CREATE TABLE shifts (begin TEXT, "end" TEXT, closed INT);
CREATE TRIGGER close AFTER UPDATE ON shifts BEGIN
  UPDATE shifts SET closed = CASE WHEN NEW."end" IS NULL THEN 0 ELSE 1 END WHERE rowid = NEW.rowid;
END;
INSERT INTO shifts (begin) VALUES ('09:00; early');
`,
    );
    const applied = await project.run(['migrate']);
    expect(applied.exitCode, applied.all).toBe(0);
    await db.exec(`UPDATE shifts SET "end" = '17:00'`);
    expect(await db.query('SELECT begin, closed FROM shifts')).toEqual([{ begin: '09:00; early', closed: 1 }]);

    await project.writeMigration('002_broken.sql', 'CREATE TABLE fine (id INT);\n\nCREAT TABLE oops (id INT);\n');
    const before = await db.dump();
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(2);
    expect(parseReport(result.stdout).failed).toMatchObject({
      migration: '002_broken',
      message: 'migrations/002_broken.sql line 3, column 1, SQLITE_ERROR: near "CREAT": syntax error\nstatement: CREAT TABLE oops (id INT)',
      code: 'SQLITE_ERROR',
      line: 3,
      column: 1,
    });
    expect(await db.dump()).toBe(before);
  });

  it("gives a script migration's database error its code too, and its whole message", async () => {
    await project.writeMigration('001_script.js', "exports.up = (knex) => knex.raw('SELECT 1,\\n  2 FROM nowhere');\n");
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(2);
    expect(parseReport(result.stdout).failed).toEqual({
      migration: '001_script',
      phase: 'migrate',
      // knex's own message: the statement (over two lines), then SQLite's.
      message: 'SELECT 1,\n  2 FROM nowhere - SQLITE_ERROR: no such table: nowhere',
      code: 'SQLITE_ERROR',
    });
  });
});
