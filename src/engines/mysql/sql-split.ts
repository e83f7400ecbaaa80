import type { SqlStatement } from '../contract.ts';

/**
 * Splits a `.sql` migration into statements as the `mysql` / `mariadb` client does, so a file
 * that runs with `mariadb < file.sql` runs here statement for statement. The delimiter (`;`, or
 * what a `DELIMITER $$` line at the start of a statement sets: the client's own command, never
 * sent to the server, and how a file writes a trigger or procedure with a BEGIN … END body) ends
 * a statement only outside of '…' and "…" strings (a backslash escapes, `''` too), `…`
 * identifiers (` `` ` escapes) and comments: `-- ` (a space after the dashes, as MySQL requires),
 * `#` to the end of the line, and `/* … *\/` (MySQL's `/*! … *\/` executable comments are kept in
 * the statement's text, the server runs them).
 *
 * Each statement keeps its text as written (comments included) and where it starts in the file.
 * An unterminated string or comment runs to the end of the file, for the server to report.
 */
export function splitMysqlSql(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let delimiter = ';';
  let start = 0;
  let hasCode = false;
  let i = 0;
  const push = (end: number, next: number) => {
    if (hasCode) {
      const raw = sql.slice(start, end);
      const leading = raw.length - raw.trimStart().length;
      statements.push({ text: raw.trim(), offset: start + leading });
    }
    start = next;
    hasCode = false;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (!hasCode) {
      // A client command: `DELIMITER <text>` on a line of its own, at a statement's start.
      const command = /DELIMITER[ \t]+(\S+)[^\n]*(\n|$)/iy;
      command.lastIndex = i;
      const match = command.exec(sql);
      if (match && sql.slice(sql.lastIndexOf('\n', i - 1) + 1, i).trim() === '') {
        delimiter = match[1]!;
        i = command.lastIndex;
        start = i;
        continue;
      }
    }
    if (c === "'" || c === '"' || c === '`') {
      hasCode = true;
      i = endOfQuoted(sql, i, c);
      continue;
    }
    if (c === '#' || (c === '-' && sql.startsWith('--', i) && /^--(\s|$)/.test(sql.slice(i, i + 3)))) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const executable = sql[i + 2] === '!';
      if (executable) hasCode = true;
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
      continue;
    }
    if (sql.startsWith(delimiter, i)) {
      push(i, i + delimiter.length);
      i += delimiter.length;
      continue;
    }
    if (!/\s/.test(c)) hasCode = true;
    i += 1;
  }
  push(sql.length, sql.length);
  return statements;
}

/** The index just past the quote that closes the one at `open` (a backslash escapes the next character). */
function endOfQuoted(sql: string, open: number, quote: string): number {
  let i = open + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === '\\' && quote !== '`') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return sql.length;
}
