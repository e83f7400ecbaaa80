import type { SqlStatement } from '../contract.ts';

/**
 * Splits a `.sql` migration into its statements, the way SQLite will run them, so a dry run can
 * list them and the real run executes exactly that list. Aware of quotes ('…', "…", `…`, […]) and
 * comments (-- and /* *\/). Inside CREATE TRIGGER, a `;` ends the statement only in `; END ;`,
 * the rule of SQLite's own `sqlite3_complete`: so `CASE … END;` in a trigger body, or a column
 * named `end`, does not cut the trigger short.
 */
export function splitSqliteSql(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let start = 0;
  let words: string[] = []; // the statement's first words, to recognise CREATE TRIGGER
  let inTrigger = false;
  let last: string[] = []; // the two most recent tokens (`;` counts as one)
  let i = 0;
  const push = (end: number) => {
    const raw = sql.slice(start, end);
    const text = raw.trim();
    if (stripComments(text).trim() !== '') statements.push({ text, offset: start + raw.length - raw.trimStart().length });
    start = end + 1;
    words = [];
    inTrigger = false;
    last = [];
  };
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? sql.length : eol + 1;
      continue;
    }
    if (ch === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`' || ch === '[') {
      const closing = ch === '[' ? ']' : ch;
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === closing) {
          if (closing !== ']' && sql[j + 1] === closing) {
            j += 2; // doubled quote is an escaped quote
            continue;
          }
          break;
        }
        j += 1;
      }
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j]!)) j += 1;
      const word = sql.slice(i, j).toUpperCase();
      if (words.length < 4) {
        words.push(word);
        if (/^CREATE( TEMP| TEMPORARY)? TRIGGER/.test(words.join(' '))) inTrigger = true;
      }
      last = [last[last.length - 1] ?? '', word];
      i = j;
      continue;
    }
    if (ch === ';') {
      if (!inTrigger || (last[0] === ';' && last[1] === 'END')) {
        push(i);
        i += 1;
        continue;
      }
      last = [last[last.length - 1] ?? '', ';'];
    } else if (!/\s/.test(ch)) {
      last = [last[last.length - 1] ?? '', ch];
    }
    i += 1;
  }
  push(sql.length);
  return statements;
}

/** The statements' texts alone. */
export function splitSqlStatements(sql: string): string[] {
  return splitSqliteSql(sql).map((statement) => statement.text);
}

function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
