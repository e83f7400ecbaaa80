import { describe, expect, it } from 'vitest';
import { splitSqliteSql, splitSqlStatements } from '../../../src/engines/sqlite/sql-split.ts';
import { SqliteConnection } from '../../../src/engines/sqlite/connection.ts';

describe('splitSqlStatements', () => {
  it('splits on semicolons outside quotes and comments', () => {
    const sql = `-- a comment; with a semicolon
      CREATE TABLE "a;b" (x TEXT DEFAULT 'it''s; fine');
      /* block; comment */ INSERT INTO "a;b" VALUES ('one;two');
      INSERT INTO [a;b] VALUES (\`x\`)`;
    expect(splitSqlStatements(sql)).toEqual([
      `-- a comment; with a semicolon\n      CREATE TABLE "a;b" (x TEXT DEFAULT 'it''s; fine')`,
      `/* block; comment */ INSERT INTO "a;b" VALUES ('one;two')`,
      'INSERT INTO [a;b] VALUES (`x`)',
    ]);
  });

  it('keeps a trigger body, CASE … END included, in one statement', () => {
    const sql = `CREATE TABLE t (v INT);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN
  UPDATE t SET v = CASE WHEN NEW.v > 1 THEN 1 ELSE 0 END WHERE rowid = NEW.rowid;
  DELETE FROM t WHERE v < 0;
END;
INSERT INTO t VALUES (5);`;
    const statements = splitSqlStatements(sql);
    expect(statements).toHaveLength(3);
    expect(statements[1]).toMatch(/^CREATE TRIGGER tr[\s\S]*END$/);
  });

  it('is not fooled by a column named end, begin or case', () => {
    const sql = `CREATE TABLE shifts (begin TEXT, "end" TEXT, case_no INT);
CREATE TRIGGER tr AFTER UPDATE ON shifts BEGIN
  UPDATE shifts SET end = NEW.end WHERE begin = NEW.begin;
  UPDATE shifts SET case_no = CASE WHEN NEW.end IS NULL THEN 0 ELSE 1 END;
END;
UPDATE shifts SET end = 'x';`;
    const statements = splitSqlStatements(sql);
    expect(statements).toHaveLength(3);
    expect(statements[1]).toMatch(/^CREATE TRIGGER tr[\s\S]*\n\s*END$/);
    expect(statements[2]).toBe("UPDATE shifts SET end = 'x'");
  });

  it('says where each statement starts in the file', () => {
    const sql = '\n  CREATE TABLE t (v INT);\n\n  -- next\n  INSERT INTO t VALUES (1)';
    expect(splitSqliteSql(sql)).toEqual([
      { text: 'CREATE TABLE t (v INT)', offset: sql.indexOf('CREATE') },
      { text: '-- next\n  INSERT INTO t VALUES (1)', offset: sql.indexOf('-- next') },
    ]);
  });

  it('drops empty statements and comment-only tails', () => {
    expect(splitSqlStatements(';;  \n-- nothing here\n')).toEqual([]);
  });

  it('produces statements SQLite runs one by one to the same result', async () => {
    const sql = `CREATE TABLE t (v INT); CREATE TABLE log (m TEXT);
      CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('v=' || NEW.v || ';'); END;
      INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);`;
    const db = await SqliteConnection.open(':memory:', 'create');
    for (const statement of splitSqlStatements(sql)) await db.exec(statement);
    expect(await db.all('SELECT m FROM log ORDER BY rowid')).toEqual([{ m: 'v=1;' }, { m: 'v=2;' }]);
    await db.close();
  });
});
