import { distrustReads, firstWord, type StatementClassifier, type StatementEffect } from '../write-set.ts';
import { sqliteStatements } from '../sqlite/write-set.ts';

const UNKNOWN: StatementEffect = { kind: 'unknown' };

/** Several tables in an UPDATE's or DELETE's target: `UPDATE a JOIN b …`, `DELETE a, b FROM …`, `DELETE FROM a USING a, b`. */
const MULTI_TABLE = /\bJOIN\b|\bUSING\b|,/i;

/**
 * MySQL/MariaDB's statement classifier for the run's changed set. It opts into SQLite's grammar
 * for what the two share, distrusting its reads as every server engine does (`` `app`.`items` ``
 * is a table of a database the run can reach, not of another file). On top, what MySQL has and
 * SQLite does not: an UPDATE or DELETE of several tables at once writes tables SQLite's grammar
 * does not look for (unknown: every table is checked), and `INSERT … ON DUPLICATE KEY UPDATE`
 * changes existing rows.
 */
const shared = distrustReads(sqliteStatements);

export const myStatements: StatementClassifier = {
  classify(sql) {
    const effect = shared.classify(sql);
    if (effect.kind !== 'write') return effect;
    const verb = firstWord(sql);
    if (verb === 'UPDATE' && MULTI_TABLE.test(sql.split(/\bSET\b/i)[0]!)) return UNKNOWN;
    if (verb === 'DELETE' && MULTI_TABLE.test(sql.split(/\bWHERE\b/i)[0]!)) return UNKNOWN;
    if (/\bON\s+DUPLICATE\s+KEY\s+UPDATE\b/i.test(sql)) return { ...effect, rowsChanged: effect.table };
    return effect;
  },
  turnsForeignKeysOn: (sql) => shared.turnsForeignKeysOn(sql),
};
