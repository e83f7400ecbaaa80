import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPg } from '../../../src/engines/postgres/connection.ts';
import { splitPostgresSql } from '../../../src/engines/postgres/sql-split.ts';
import { postgresDatabase, type TestDatabase } from '../../helpers/databases.ts';

const texts = (sql: string) => splitPostgresSql(sql).map((statement) => statement.text);

describe('splitPostgresSql', () => {
  it('splits on semicolons and says where each statement starts in the file', () => {
    const sql = '\n\n  SELECT 1;\n  SELECT 2 ;  SELECT 3';
    expect(splitPostgresSql(sql)).toEqual([
      { text: 'SELECT 1', offset: sql.indexOf('SELECT 1') },
      { text: 'SELECT 2', offset: sql.indexOf('SELECT 2') },
      { text: 'SELECT 3', offset: sql.indexOf('SELECT 3') },
    ]);
  });

  it('keeps a dollar-quoted body whole, with or without a tag, and a $$ inside a tagged one', () => {
    const sql = `CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.n := NEW.n + 1; -- a ; in the body
  RETURN NEW;
END;
$$;
DO $body$ BEGIN EXECUTE $$SELECT 1; SELECT 2$$; END $body$;
CREATE FUNCTION a() RETURNS text LANGUAGE sql AS $a$ SELECT $b$;$b$ $a$;
SELECT 3`;
    const statements = texts(sql);
    expect(statements).toHaveLength(4);
    expect(statements[0]).toMatch(/^CREATE FUNCTION bump\(\)[\s\S]*END;\n\$\$$/);
    expect(statements[1]).toBe('DO $body$ BEGIN EXECUTE $$SELECT 1; SELECT 2$$; END $body$');
    expect(statements[2]).toBe('CREATE FUNCTION a() RETURNS text LANGUAGE sql AS $a$ SELECT $b$;$b$ $a$');
  });

  it('takes $1 for a parameter and t$x$ for an identifier, not for dollar quotes', () => {
    expect(texts('PREPARE p(int) AS SELECT $1; EXECUTE p(1); CREATE TABLE t$x$ (a int); SELECT 1')).toEqual([
      'PREPARE p(int) AS SELECT $1',
      'EXECUTE p(1)',
      'CREATE TABLE t$x$ (a int)',
      'SELECT 1',
    ]);
  });

  it("reads E'' strings with backslash escapes, and '' strings without", () => {
    expect(texts("INSERT INTO t VALUES (E'it\\'s; fine'); SELECT e'\\\\'; SELECT 'C:\\'; SELECT 'it''s; fine'")).toEqual([
      "INSERT INTO t VALUES (E'it\\'s; fine')",
      "SELECT e'\\\\'",
      "SELECT 'C:\\'",
      "SELECT 'it''s; fine'",
    ]);
    // An identifier ending in e is not an E prefix: the lexer takes the longest token.
    expect(texts("SELECT 1 AS some; SELECT 'x\\'; SELECT 2")).toEqual(['SELECT 1 AS some', "SELECT 'x\\'", 'SELECT 2']);
    expect(texts("SELECT U&'d\\0061t\\+000061; ok'; SELECT 2")).toEqual(["SELECT U&'d\\0061t\\+000061; ok'", 'SELECT 2']);
  });

  it('skips nested block comments and line comments, quotes in them included', () => {
    expect(texts("/* outer; /* nested; */ still outer; it's */ SELECT 1; -- it's; here\nSELECT 2;")).toEqual([
      "/* outer; /* nested; */ still outer; it's */ SELECT 1",
      "-- it's; here\nSELECT 2",
    ]);
  });

  it('keeps quoted identifiers whole', () => {
    expect(texts('CREATE TABLE "a;""b" (x int); SELECT 1')).toEqual(['CREATE TABLE "a;""b" (x int)', 'SELECT 1']);
  });

  it('keeps a BEGIN ATOMIC body whole, CASE … END inside it included, as psql does', () => {
    // From PostgreSQL's regression tests (create_function_sql, create_procedure).
    const sql = `CREATE FUNCTION functest_S_3a() RETURNS boolean
    BEGIN ATOMIC
        ;;RETURN false;;
    END;
CREATE FUNCTION functest_S_13() RETURNS boolean
    BEGIN ATOMIC
        SELECT 1;
        SELECT false;
    END;
CREATE OR REPLACE FUNCTION functest_S_15(x int) RETURNS boolean
LANGUAGE SQL
BEGIN ATOMIC
    select case when x % 2 = 0 then true else false end;
END;
CREATE PROCEDURE ptest1s(x text)
LANGUAGE SQL
BEGIN ATOMIC
  INSERT INTO cp_test VALUES (1, x);
END;
SELECT 1`;
    const statements = texts(sql);
    expect(statements).toHaveLength(5);
    expect(statements.slice(0, 4).every((statement) => /^CREATE[\s\S]*\bEND$/.test(statement))).toBe(true);
    expect(statements[4]).toBe('SELECT 1');
  });

  it('does not take a transaction BEGIN, or a column named begin, for a block', () => {
    expect(texts('BEGIN; CREATE TABLE shifts (begin text, "end" text); COMMIT; SELECT begin FROM shifts')).toEqual([
      'BEGIN',
      'CREATE TABLE shifts (begin text, "end" text)',
      'COMMIT',
      'SELECT begin FROM shifts',
    ]);
  });

  it('keeps a semicolon inside parentheses (a multi-action rule) in its statement', () => {
    expect(texts('CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1')).toEqual([
      'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))',
      'SELECT 1',
    ]);
  });

  it('runs an unterminated dollar quote, string or comment to the end of the file, for PostgreSQL to report', () => {
    const sql = 'SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN RETURN 1; END;\nSELECT 2;\n';
    expect(texts(sql)).toEqual(['SELECT 1', 'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN RETURN 1; END;\nSELECT 2;']);
    expect(texts("SELECT 'open; SELECT 2")).toEqual(["SELECT 'open; SELECT 2"]);
    expect(texts('SELECT 1; /* open /* */ SELECT 2;')).toEqual(['SELECT 1']);
  });

  it('drops empty statements and comment-only tails', () => {
    expect(texts(';;  \n-- nothing here\n/* nor /* here */ */')).toEqual([]);
  });
});

describe('splitPostgresSql on PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await postgresDatabase('mg_split');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('gives statements PostgreSQL runs one by one to the same result as psql would', async () => {
    const sql = `CREATE TABLE log (id serial PRIMARY KEY, m text);
CREATE FUNCTION logged() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.m := NEW.m || '; logged'; -- ; and ' in a comment
  RETURN NEW;
END;
$fn$;
CREATE TRIGGER log_logged BEFORE INSERT ON log FOR EACH ROW EXECUTE FUNCTION logged();
/* a /* nested */ comment; */
DO $$ BEGIN INSERT INTO log (m) VALUES ('do; block'); END $$;
INSERT INTO log (m) VALUES (E'it\\'s; fine');
CREATE FUNCTION log_count() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN count(*) > 0 THEN count(*) ELSE 0 END FROM log;
END;
CREATE RULE keep AS ON DELETE TO log DO INSTEAD (UPDATE log SET m = 'kept; ' || m WHERE id = OLD.id; SELECT 1);
DELETE FROM log WHERE id = 1;`;
    const statements = splitPostgresSql(sql);
    expect(statements).toHaveLength(8);
    await withPg(db.url, async (connection) => {
      for (const statement of statements) await connection.exec(statement.text);
    });
    expect(await db.query('SELECT m FROM log ORDER BY id')).toEqual([{ m: 'kept; do; block; logged' }, { m: "it's; fine; logged" }]);
    expect(await db.query('SELECT log_count() AS n')).toEqual([{ n: '2' }]);
  });
});
