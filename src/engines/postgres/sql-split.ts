import type { SqlStatement } from '../contract.ts';

/** `$$` or `$tag$`: a tag is an identifier without `$` (so `$1` is a parameter, not a quote). */
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

/**
 * Splits a `.sql` migration into statements the way psql does (its lexer, psqlscan.l), so a file
 * that runs with `psql -f` runs here statement for statement. A `;` ends a statement only outside
 * of: '…' strings (`''` escapes a quote; a backslash is a plain character, as with
 * standard_conforming_strings on, the default), E'…' strings (a backslash escapes too), "…"
 * identifiers, $tag$…$tag$ dollar quotes, -- and nested /* … *\/ comments, parentheses, and the
 * BEGIN … END of a `CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC` body (CASE … END
 * nested in it included: psql's own heuristic).
 *
 * Each statement keeps its text exactly as written (comments too: nothing is re-written, so an
 * error position PostgreSQL reports in it maps back to the file) and where it starts in the file.
 * An unterminated string, comment or dollar quote runs to the end of the file, so PostgreSQL
 * itself reports it, with its position.
 *
 * Written here rather than taken from npm: dbgate-query-splitter (the maintained splitter that
 * knows dollar quotes) cuts `E'it\'s; fine'`, nested comments and BEGIN ATOMIC bodies at their
 * first `;`; splitting with PostgreSQL's own parser (libpg-query, WebAssembly) needs the whole
 * file to parse, so a file with a syntax error could not reach the server to be reported.
 */
export function splitPostgresSql(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let start = 0;
  let hasCode = false; // anything but whitespace and comments since `start`
  let parens = 0;
  let begins = 0;
  let words: string[] = []; // the statement's first words, to recognise CREATE [OR REPLACE] FUNCTION|PROCEDURE
  let i = 0;
  const push = (end: number) => {
    if (hasCode) {
      const raw = sql.slice(start, end);
      const leading = raw.length - raw.trimStart().length;
      statements.push({ text: raw.trim(), offset: start + leading });
    }
    start = end + 1;
    hasCode = false;
    parens = 0;
    begins = 0;
    words = [];
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
      i = endOfBlockComment(sql, i);
      continue;
    }
    if (/\s/.test(ch)) {
      i += 1;
      continue;
    }
    if (ch !== ';') hasCode = true;
    if (ch === "'") {
      i = endOfQuoted(sql, i + 1, "'", false);
      continue;
    }
    if (ch === '"') {
      i = endOfQuoted(sql, i + 1, '"', false);
      continue;
    }
    if (ch === '$') {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql)?.[0];
      if (tag !== undefined) {
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? sql.length : close + tag.length;
        continue;
      }
      // A parameter ($1) or a lone $: plain characters.
      i += 1;
      while (i < sql.length && /[0-9]/.test(sql[i]!)) i += 1;
      continue;
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(ch)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j]!)) j += 1;
      const word = sql.slice(i, j).toLowerCase();
      // E'…': the one string whose backslashes escape (the lexer's xestart beats a one-letter identifier).
      if (word === 'e' && sql[j] === "'") {
        i = endOfQuoted(sql, j + 1, "'", true);
        continue;
      }
      if (words.length < 4) words.push(word);
      if (parens === 0 && isRoutineDefinition(words)) {
        if (word === 'begin') begins += 1;
        else if (word === 'case' && begins >= 1) begins += 1;
        else if (word === 'end' && begins > 0) begins -= 1;
      }
      i = j;
      continue;
    }
    if (/[0-9]/.test(ch)) {
      // A number, so `1e5` or `2end` is never taken for a keyword.
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_.]/.test(sql[j]!)) j += 1;
      i = j;
      continue;
    }
    if (ch === '(') parens += 1;
    else if (ch === ')') parens = Math.max(0, parens - 1);
    else if (ch === ';' && parens === 0 && begins === 0) {
      push(i);
      i += 1;
      continue;
    }
    i += 1;
  }
  push(sql.length);
  return statements;
}

/** `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: the statements whose body may be BEGIN ATOMIC … END. */
function isRoutineDefinition(words: readonly string[]): boolean {
  if (words[0] !== 'create') return false;
  const kind = words[1] === 'or' && words[2] === 'replace' ? words[3] : words[1];
  return kind === 'function' || kind === 'procedure';
}

/** Past a /* comment, which PostgreSQL (unlike the SQL standard's older rule) lets nest. */
function endOfBlockComment(sql: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth += 1;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else i += 1;
  }
  return sql.length;
}

/** Past the closing quote of a string or quoted identifier starting at `from` (after its opening quote). */
function endOfQuoted(sql: string, from: number, quote: string, backslashEscapes: boolean): number {
  let j = from;
  while (j < sql.length) {
    const c = sql[j];
    if (backslashEscapes && c === '\\') {
      j += 2;
      continue;
    }
    if (c === quote) {
      if (sql[j + 1] === quote) {
        j += 2; // a doubled quote is a quote
        continue;
      }
      return j + 1;
    }
    j += 1;
  }
  return sql.length;
}
