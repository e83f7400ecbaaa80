import type { StatementClassifier, StatementEffect } from '../write-set.ts';
import { sqliteStatements } from '../sqlite/write-set.ts';

const UNKNOWN: StatementEffect = { kind: 'unknown' };

/** Comments and blanks before a statement's first word. */
const LEADING = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;

/** First words of a statement that can write a table of this database. */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'COPY']);

/** A data-modifying verb anywhere in a statement (a `WITH d AS (DELETE …) SELECT …`). */
const MODIFIES = /\b(?:INSERT|UPDATE|DELETE|MERGE)\b/i;

/**
 * PostgreSQL's statement classifier for the run's changed set: the statements knex sent. It opts
 * into SQLite's grammar for the part the two share (INSERT/UPDATE/DELETE, CREATE/ALTER/DROP
 * TABLE and INDEX, WITH, transaction control); anything else (PostgreSQL's TRUNCATE, COPY, ALTER
 * TYPE, a DO block, …) is not recognised and counts as unknown, so the checks cover the whole
 * database.
 *
 * Where SQLite's grammar says "read" for a statement that writes, PostgreSQL must not believe it:
 * - a name with a schema in front (`public.items`) is, to SQLite, a table of another database
 *   file, which the checks need not cover; on PostgreSQL it is a table of this database;
 * - a common table expression may delete, update or insert (`WITH gone AS (DELETE …) SELECT …`),
 *   which SQLite's CTEs cannot.
 * Both become unknown: the checks then cover every table, and no row is lost unnoticed.
 */
export const pgStatements: StatementClassifier = {
  classify(sql) {
    const effect = sqliteStatements.classify(sql);
    if (effect.kind !== 'read') return effect;
    const verb = /^[A-Za-z]+/.exec(sql.replace(LEADING, ''))?.[0].toUpperCase() ?? null;
    if (verb === null) return effect;
    if (verb === 'WITH' || verb === 'SELECT') return MODIFIES.test(sql) ? UNKNOWN : effect;
    return WRITES.has(verb) ? UNKNOWN : effect;
  },
  turnsForeignKeysOn: (sql) => sqliteStatements.turnsForeignKeysOn(sql),
};
