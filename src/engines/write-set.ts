import type { ChangedSet } from './contract.ts';

/** What one statement does to the main database. */
export type StatementEffect =
  | { readonly kind: 'read' }
  | { readonly kind: 'unknown' }
  /**
   * `table`: whose b-trees (the table and its indexes) it writes, under its name after the
   * statement; `rowsChanged`: a table whose existing rows it updates, deletes or drops (rows of
   * other tables that point at them may now point nowhere).
   */
  | { readonly kind: 'write'; readonly table: string | null; readonly rowsChanged: string | null };

/**
 * An engine's reading of the statements a run sent: what each one writes, and whether it turns on
 * foreign-key enforcement (from then on deletes may cascade into tables no statement names).
 * Each engine has its own (`engines/<engine>/write-set.ts`).
 */
export interface StatementClassifier {
  classify(sql: string): StatementEffect;
  turnsForeignKeysOn(sql: string): boolean;
}

/**
 * Which tables a run wrote to, read from every statement it ran on its connection (SQLite's trace:
 * the statement text as it begins executing; for PostgreSQL the statements knex sent), through
 * the engine's classifier: a statement it does not recognise makes the whole database count as
 * changed, and the check falls back to the whole database.
 *
 * Why it is complete: a b-tree of the main database changes only through a statement that writes
 * it. The statements that can are INSERT/REPLACE/UPDATE/DELETE (on their named table and its
 * indexes), CREATE/ALTER/DROP (on sqlite_master and the named table), REINDEX, ANALYZE, VACUUM,
 * and writes a statement causes beyond its own table: triggers, and foreign-key actions (only
 * with `PRAGMA foreign_keys = ON`, which the migration connection leaves off). Each statement is
 * matched against that list; a trigger firing, foreign keys switched on, or any statement not
 * recognised makes the whole database count as changed, and the check falls back to the whole
 * file. Reads (SELECT, the PRAGMAs knex and the checks use) and transaction control write nothing.
 */
export class WriteSet {
  private readonly tables = new Set<string>();
  private readonly rowsChanged = new Set<string>();
  private unknown: string | null = null;
  private foreignKeysOn = false;

  constructor(private readonly statements: StatementClassifier) {}

  /** Takes one traced statement into account. */
  add(sql: string): void {
    // Noticed even once the set is unknown: the rows check then compares every table.
    if (!this.foreignKeysOn && this.statements.turnsForeignKeysOn(sql)) this.foreignKeysOn = true;
    if (this.unknown !== null) return;
    const effect = this.statements.classify(sql);
    switch (effect.kind) {
      case 'read':
        return;
      case 'unknown':
        this.unknown = oneLine(sql);
        return;
      case 'write':
        if (effect.table !== null) this.tables.add(effect.table);
        if (effect.rowsChanged !== null) this.rowsChanged.add(effect.rowsChanged);
        return;
    }
  }

  result(): ChangedSet {
    return {
      tables: [...this.tables].sort(),
      rowsChanged: [...this.rowsChanged].sort(),
      unknown: this.unknown,
      ...(this.foreignKeysOn ? { foreignKeysOn: true } : {}),
    };
  }
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}

const UNKNOWN: StatementEffect = { kind: 'unknown' };

/** Comments and blanks before a statement's first word. */
const LEADING = /^(?:\s+|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;

/** First words of a statement that can write a table of the database. */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'COPY', 'LOAD', 'RENAME']);

/** A data-modifying verb anywhere in a statement (`WITH gone AS (DELETE …) SELECT …`). */
const MODIFIES = /\b(?:INSERT|UPDATE|DELETE|MERGE|REPLACE)\b/i;

/** A statement's first word, upper case (null when it has none). */
export function firstWord(sql: string): string | null {
  return /^[A-Za-z]+/.exec(sql.replace(LEADING, ''))?.[0].toUpperCase() ?? null;
}

/**
 * A server engine's classifier built on a file engine's grammar (SQLite's), which calls "read"
 * what writes only another database file: a name with a schema in front (`public.items`,
 * `` `app`.`items` ``), a temporary table. On a server those are tables of the same database (or
 * of one the run can reach), and a common table expression may delete, update or insert, which
 * SQLite's cannot. So a statement the base reads as a read but whose first word writes, or a
 * SELECT/WITH that carries a data-modifying verb, counts as unknown: the checks then cover every
 * table, and no row is lost unnoticed.
 */
export function distrustReads(base: StatementClassifier): StatementClassifier {
  return {
    classify(sql) {
      const effect = base.classify(sql);
      if (effect.kind !== 'read') return effect;
      const verb = firstWord(sql);
      if (verb === null) return effect;
      if (verb === 'WITH' || verb === 'SELECT') return MODIFIES.test(sql) ? UNKNOWN : effect;
      return WRITES.has(verb) ? UNKNOWN : effect;
    },
    turnsForeignKeysOn: (sql) => base.turnsForeignKeysOn(sql),
  };
}
