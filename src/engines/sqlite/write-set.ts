import type { StatementClassifier, StatementEffect } from '../write-set.ts';

/**
 * SQLite's statement classifier for the run's changed set (see WriteSet): the statements
 * SQLite's trace reports, as its grammar writes them. Why it is complete: a b-tree of the main
 * database changes only through a statement that writes it. The statements that can are
 * INSERT/REPLACE/UPDATE/DELETE (on their named table and its indexes), CREATE/ALTER/DROP (on
 * sqlite_master and the named table), REINDEX, ANALYZE, VACUUM, and writes a statement causes
 * beyond its own table: triggers, and foreign-key actions (only with `PRAGMA foreign_keys = ON`,
 * which the migration connection leaves off). Each statement is matched against that list; a
 * trigger firing, foreign keys switched on, or any statement not recognised makes the whole
 * database count as changed. Reads (SELECT, the PRAGMAs knex and the checks use) and transaction
 * control write nothing.
 */
export const sqliteStatements: StatementClassifier = {
  classify: (sql) => classifyStatement(sql),
  turnsForeignKeysOn: (sql) => turnsForeignKeysOn(sql),
};

/** `PRAGMA [schema.]foreign_keys = ON` (or 1, true, yes): enforcement, and its cascades, switched on. */
export function turnsForeignKeysOn(sql: string): boolean {
  const tokens = new Tokens(sql);
  if (tokens.word() !== 'PRAGMA') return false;
  const name = tokens.qualifiedName();
  if (name === null || name.name.toLowerCase() !== 'foreign_keys') return false;
  const value = tokens
    .rest()
    .replace(/[=()\s'";]/g, '')
    .toLowerCase();
  return value !== '' && !['0', 'off', 'false', 'no'].includes(value);
}

const READ: StatementEffect = { kind: 'read' };
const UNKNOWN: StatementEffect = { kind: 'unknown' };

/** PRAGMAs that read, or set only how this connection behaves; anything else is not guessed at. */
const QUIET_PRAGMAS = new Set([
  'table_info',
  'table_xinfo',
  'table_list',
  'index_list',
  'index_info',
  'index_xinfo',
  'foreign_key_list',
  'foreign_key_check',
  'integrity_check',
  'quick_check',
  'cache_size',
  'mmap_size',
  'query_only',
  'busy_timeout',
  'journal_mode',
  'defer_foreign_keys',
  'legacy_alter_table',
  'user_version',
  'application_id',
  'schema_version',
  'data_version',
  'page_count',
  'page_size',
  'freelist_count',
  'compile_options',
  'database_list',
  'case_sensitive_like',
  'recursive_triggers',
  'synchronous',
  'temp_store',
  'collation_list',
  'function_list',
  'module_list',
  'pragma_list',
]);

export function classifyStatement(sql: string): StatementEffect {
  const tokens = new Tokens(sql);
  // A trigger's statements are announced as a comment naming the trigger: its writes are not read here.
  if (/^\s*--\s*TRIGGER\b/i.test(sql)) return UNKNOWN;
  const first = tokens.word();
  switch (first) {
    case null:
      return READ;
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
    case 'SELECT':
    case 'VALUES':
    case 'EXPLAIN':
    case 'ATTACH':
    case 'DETACH':
      return READ;
    case 'PRAGMA':
      return pragma(tokens);
    case 'WITH':
      return tokens.skipCommonTableExpressions() ? dataStatement(tokens, tokens.word()) : UNKNOWN;
    case 'INSERT':
    case 'REPLACE':
    case 'UPDATE':
    case 'DELETE':
      return dataStatement(tokens, first);
    case 'CREATE':
      return create(tokens);
    case 'DROP':
      return drop(tokens);
    case 'ALTER':
      return alter(tokens);
    default:
      return UNKNOWN;
  }
}

function pragma(tokens: Tokens): StatementEffect {
  // A schema in front (`temp.`, `main.`) does not make a connection-wide PRAGMA any less so:
  // `PRAGMA temp.foreign_keys = ON` switches enforcement on for the whole connection.
  const name = tokens.qualifiedName();
  if (name === null) return UNKNOWN;
  const pragmaName = name.name.toLowerCase();
  if (pragmaName === 'foreign_keys') {
    // Switched on, deletes and updates may cascade into other tables: no longer one statement, one table.
    const value = tokens
      .rest()
      .replace(/[=()\s'";]/g, '')
      .toLowerCase();
    return value === '' || ['0', 'off', 'false', 'no'].includes(value) ? READ : UNKNOWN;
  }
  return QUIET_PRAGMAS.has(pragmaName) ? READ : UNKNOWN;
}

function dataStatement(tokens: Tokens, verb: string | null): StatementEffect {
  if (verb === 'SELECT' || verb === 'VALUES') return READ;
  let replaces = verb === 'REPLACE';
  if (verb === 'INSERT' || verb === 'UPDATE') {
    if (tokens.acceptWord('OR')) {
      const conflict = tokens.word();
      if (conflict === null) return UNKNOWN;
      if (conflict === 'REPLACE') replaces = true;
    }
  }
  if (verb === 'INSERT' || verb === 'REPLACE') {
    if (!tokens.acceptWord('INTO')) return UNKNOWN;
  } else if (verb === 'DELETE') {
    if (!tokens.acceptWord('FROM')) return UNKNOWN;
  } else if (verb !== 'UPDATE') {
    return UNKNOWN;
  }
  const target = tokens.qualifiedName();
  if (target === null) return UNKNOWN;
  if (target.schema !== null && target.schema !== 'main') return READ; // another database file
  const upserts = /\bON\s+CONFLICT\b[\s\S]*\bDO\s+UPDATE\b/i.test(tokens.rest());
  const changesRows = verb === 'UPDATE' || verb === 'DELETE' || replaces || upserts;
  return { kind: 'write', table: target.name, rowsChanged: changesRows ? target.name : null };
}

function create(tokens: Tokens): StatementEffect {
  let word = tokens.word();
  if (word === 'TEMP' || word === 'TEMPORARY') return READ; // the temp database, not the file
  if (word === 'UNIQUE') word = tokens.word();
  if (word === 'VIEW' || word === 'TRIGGER') return { kind: 'write', table: null, rowsChanged: null }; // sqlite_master only
  if (word !== 'TABLE' && word !== 'INDEX') return UNKNOWN; // CREATE VIRTUAL TABLE: a module's own storage
  if (tokens.acceptWord('IF')) {
    if (!tokens.acceptWord('NOT') || !tokens.acceptWord('EXISTS')) return UNKNOWN;
  }
  const name = tokens.qualifiedName();
  if (name === null) return UNKNOWN;
  if (name.schema !== null && name.schema !== 'main') return READ;
  if (word === 'TABLE') return { kind: 'write', table: name.name, rowsChanged: null };
  if (!tokens.acceptWord('ON')) return UNKNOWN;
  const table = tokens.qualifiedName();
  return table === null ? UNKNOWN : { kind: 'write', table: table.name, rowsChanged: null };
}

function drop(tokens: Tokens): StatementEffect {
  const what = tokens.word();
  if (what === 'INDEX' || what === 'VIEW' || what === 'TRIGGER') return { kind: 'write', table: null, rowsChanged: null };
  if (what !== 'TABLE') return UNKNOWN;
  if (tokens.acceptWord('IF') && !tokens.acceptWord('EXISTS')) return UNKNOWN;
  const name = tokens.qualifiedName();
  if (name === null) return UNKNOWN;
  if (name.schema !== null && name.schema !== 'main') return READ;
  return { kind: 'write', table: null, rowsChanged: name.name };
}

function alter(tokens: Tokens): StatementEffect {
  if (!tokens.acceptWord('TABLE')) return UNKNOWN;
  const name = tokens.qualifiedName();
  if (name === null) return UNKNOWN;
  if (name.schema !== null && name.schema !== 'main') return READ;
  const action = tokens.word();
  if (action === 'RENAME') {
    if (tokens.acceptWord('TO')) {
      const renamed = tokens.qualifiedName();
      // Tables whose foreign keys named the old name now name the new one: check them too.
      return renamed === null ? UNKNOWN : { kind: 'write', table: renamed.name, rowsChanged: renamed.name };
    }
    return { kind: 'write', table: name.name, rowsChanged: null }; // RENAME [COLUMN] a TO b
  }
  if (action === 'ADD') return { kind: 'write', table: name.name, rowsChanged: null };
  if (action === 'DROP') return { kind: 'write', table: name.name, rowsChanged: name.name }; // every row is rewritten
  return UNKNOWN;
}

/** Just enough of SQLite's tokenizer to read a statement's leading words and names. */
class Tokens {
  private at = 0;

  constructor(private readonly sql: string) {}

  private skipSpace(): void {
    for (;;) {
      const rest = this.sql.slice(this.at);
      const space = /^\s+/.exec(rest);
      if (space) {
        this.at += space[0].length;
        continue;
      }
      if (rest.startsWith('--')) {
        const end = this.sql.indexOf('\n', this.at);
        this.at = end < 0 ? this.sql.length : end + 1;
        continue;
      }
      if (rest.startsWith('/*')) {
        const end = this.sql.indexOf('*/', this.at + 2);
        this.at = end < 0 ? this.sql.length : end + 2;
        continue;
      }
      return;
    }
  }

  /** The next bare keyword, upper-cased; null at the end or when the next token is not a word. */
  word(): string | null {
    this.skipSpace();
    const match = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(this.sql.slice(this.at));
    if (!match) return null;
    this.at += match[0].length;
    return match[0].toUpperCase();
  }

  acceptWord(expected: string): boolean {
    const saved = this.at;
    if (this.word() === expected) return true;
    this.at = saved;
    return false;
  }

  /** `name`, `"name"`, `` `name` ``, `[name]`, `'name'`, optionally `schema.` in front. */
  qualifiedName(): { readonly schema: string | null; readonly name: string } | null {
    const first = this.identifier();
    if (first === null) return null;
    this.skipSpace();
    if (this.sql[this.at] !== '.') return { schema: null, name: first };
    this.at += 1;
    const second = this.identifier();
    return second === null ? null : { schema: first.toLowerCase(), name: second };
  }

  private identifier(): string | null {
    this.skipSpace();
    const open = this.sql[this.at];
    const close = open === '"' ? '"' : open === '`' ? '`' : open === '[' ? ']' : open === "'" ? "'" : null;
    if (close === null) {
      const match = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(this.sql.slice(this.at));
      if (!match) return null;
      this.at += match[0].length;
      return match[0];
    }
    let name = '';
    let index = this.at + 1;
    while (index < this.sql.length) {
      const char = this.sql[index]!;
      if (char === close) {
        if (close !== ']' && this.sql[index + 1] === close) {
          name += close; // a doubled quote is one quote character of the name
          index += 2;
          continue;
        }
        this.at = index + 1;
        return name;
      }
      name += char;
      index += 1;
    }
    return null;
  }

  /**
   * Past `WITH [RECURSIVE] name [(columns)] AS [NOT] [MATERIALIZED] (…), …` to the statement's
   * verb; false when the clause does not read as one.
   */
  skipCommonTableExpressions(): boolean {
    this.acceptWord('RECURSIVE');
    for (;;) {
      if (this.qualifiedName() === null) return false;
      this.skipSpace();
      if (this.sql[this.at] === '(' && !this.skipParentheses()) return false;
      if (!this.acceptWord('AS')) return false;
      this.acceptWord('NOT');
      this.acceptWord('MATERIALIZED');
      this.skipSpace();
      if (this.sql[this.at] !== '(' || !this.skipParentheses()) return false;
      this.skipSpace();
      if (this.sql[this.at] !== ',') return true;
      this.at += 1;
    }
  }

  /** Past a balanced `( … )`, string literals and quoted names included. */
  private skipParentheses(): boolean {
    let depth = 0;
    while (this.at < this.sql.length) {
      const char = this.sql[this.at]!;
      if (char === "'" || char === '"' || char === '`' || char === '[') {
        if (this.identifier() === null) return false;
        continue;
      }
      if (this.sql.startsWith('--', this.at) || this.sql.startsWith('/*', this.at)) {
        this.skipSpace();
        continue;
      }
      this.at += 1;
      if (char === '(') depth += 1;
      if (char === ')') {
        depth -= 1;
        if (depth === 0) return true;
      }
    }
    return false;
  }

  rest(): string {
    return this.sql.slice(this.at);
  }
}
