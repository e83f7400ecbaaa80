import { describe, expect, it } from 'vitest';
import { splitMysqlSql } from '../../../src/engines/mysql/sql-split.ts';
import { myStatementFailure } from '../../../src/engines/mysql/statement.ts';
import { myLockFindings } from '../../../src/engines/mysql/review.ts';

const texts = (sql: string) => splitMysqlSql(sql).map((statement) => statement.text);

describe('splitMysqlSql: the mariadb client grammar', () => {
  it('ends statements at ; outside quotes, backticks and comments (-- with a space, #, /* */)', () => {
    const sql =
      "INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s; \\'x\\';');\n# a; comment\nCREATE TABLE `we;ird` (v INT); -- trailing; comment\n--not-a-comment-in-mysql\nSELECT 1/* ; */;";
    expect(texts(sql)).toEqual([
      "INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s; \\'x\\';')",
      '# a; comment\nCREATE TABLE `we;ird` (v INT)',
      '-- trailing; comment\n--not-a-comment-in-mysql\nSELECT 1/* ; */',
    ]);
  });

  it('follows DELIMITER lines, which are the client’s and never sent', () => {
    const sql = 'DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\ndelimiter ;\nCALL p();';
    const statements = splitMysqlSql(sql);
    expect(statements.map((statement) => statement.text)).toEqual(['CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END', 'CALL p()']);
    expect(statements.map((statement) => statement.offset)).toEqual([sql.indexOf('CREATE'), sql.indexOf('CALL')]);
  });

  it('keeps an unterminated string to the end, for the server to report', () => {
    expect(texts("SELECT 1; SELECT 'open; SELECT 2;")).toEqual(['SELECT 1', "SELECT 'open; SELECT 2;"]);
  });
});

describe('myStatementFailure', () => {
  it("takes mysql2's code, errno and SQLSTATE, and places the server's near '…'", () => {
    const statement = 'CREATE TABLE t (id INT) ENGIN = InnoDB';
    const error = Object.assign(new Error('x'), {
      code: 'ER_PARSE_ERROR',
      errno: 1064,
      sqlState: '42000',
      sqlMessage:
        "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'ENGIN = InnoDB' at line 1",
    });
    expect(myStatementFailure(error, statement)).toEqual({
      message: error.sqlMessage,
      code: 'ER_PARSE_ERROR',
      codeLabel: 'ER_PARSE_ERROR (1064, SQLSTATE 42000)',
      position: statement.indexOf('ENGIN') + 1,
    });
    expect(myStatementFailure(new Error('not the database'), statement)).toBeNull();
  });
});

describe('myLockFindings', () => {
  const before = new Map([
    ['big', { columns: [], rows: 1_000_000 }],
    ['small', { columns: [], rows: 10 }],
  ]);
  it('warns about an ALTER of a large table that does not ask for INSTANT or INPLACE', () => {
    const findings = myLockFindings(
      [
        'ALTER TABLE big MODIFY note VARCHAR(500)',
        'ALTER TABLE `big` ADD COLUMN x INT, ALGORITHM=INSTANT',
        'ALTER TABLE big ADD INDEX (x), ALGORITHM=INPLACE, LOCK=NONE',
        'ALTER TABLE small MODIFY note VARCHAR(500)',
        'OPTIMIZE TABLE big',
      ],
      before,
      100_000,
    );
    expect(findings.map((finding) => [finding.rule, finding.table, finding.statement])).toEqual([
      ['table-rewrite', 'big', 0],
      ['table-rewrite', 'big', 4],
    ]);
    expect(findings[0]!.message).toContain('ALGORITHM=INSTANT');
  });
});
