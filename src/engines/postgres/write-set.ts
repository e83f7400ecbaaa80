import { distrustReads, type StatementClassifier } from '../write-set.ts';
import { sqliteStatements } from '../sqlite/write-set.ts';

/**
 * PostgreSQL's statement classifier for the run's changed set: the statements knex sent. It opts
 * into SQLite's grammar for the part the two share (INSERT/UPDATE/DELETE, CREATE/ALTER/DROP
 * TABLE and INDEX, WITH, transaction control); anything else (PostgreSQL's TRUNCATE, COPY, ALTER
 * TYPE, a DO block, …) is not recognised and counts as unknown, so the checks cover the whole
 * database. What SQLite reads as a write to another database file (`public.items`) or a read (a
 * data-modifying CTE) is unknown here (distrustReads).
 */
export const pgStatements: StatementClassifier = distrustReads(sqliteStatements);
