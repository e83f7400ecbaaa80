/**
 * Splits a `.sql` migration into its statements, the way SQLite will run them, so a dry run can
 * list them and the real run executes exactly that list. Aware of quotes ('…', "…", `…`, […]),
 * comments (-- and /* *\/) and trigger bodies (CREATE TRIGGER … BEGIN …; …; END), where a `;`
 * does not end the statement; CASE … END inside a trigger is counted too.
 */
export function splitSqlStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let depth = 0; // BEGIN/CASE nesting inside a CREATE TRIGGER
  let words: string[] = []; // the statement's first words, to recognise CREATE TRIGGER
  let inTrigger = false;
  let i = 0;
  const push = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (stripComments(text).trim() !== '') statements.push(text);
    start = end + 1;
    depth = 0;
    words = [];
    inTrigger = false;
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
      if (inTrigger) {
        if (word === 'BEGIN' || word === 'CASE') depth += 1;
        else if (word === 'END') depth -= 1;
      }
      i = j;
      continue;
    }
    if (ch === ';' && (!inTrigger || depth <= 0)) {
      push(i);
    }
    i += 1;
  }
  push(sql.length);
  return statements;
}

function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
