import type { EngineFinding, EngineKind } from '../engines/contract.ts';
import { enginesReporting } from '../engines/registry.ts';

/**
 * The review rules a dry run reports, by stable id. An id is a contract: CI configs, `exports.review`
 * and `-- migrate-guard:allow` comments name it, SARIF viewers group by it. Ids are never renamed
 * or reused; a rule that goes away keeps its id retired.
 */
export type RuleId =
  | 'drop-table'
  | 'drop-column'
  | 'rename-table'
  | 'rename-column'
  | 'not-null-without-default'
  | 'column-type-change'
  | 'table-rewrite'
  | 'index-not-concurrent'
  | 'foreign-key-not-valid'
  | 'unbounded-update'
  | 'unbounded-delete'
  | 'rows-shrunk'
  | 'long-lock';

/**
 * `error`: the running version of the application breaks or data is lost; `warning`: the rollout
 * works but blocks or slows the application while it runs.
 */
export type Severity = 'error' | 'warning';

/** `all`, or the kinds of the engines that report the rule (`postgres`), as SARIF's `engines` property says. */
export type Engines = 'all' | EngineKind;

export interface Rule {
  readonly id: RuleId;
  readonly severity: Severity;
  /** A short name, for a SARIF rule's `shortDescription` and the README's table. */
  readonly title: string;
  /** One line: why it matters. */
  readonly why: string;
  /** One line: the safer way. */
  readonly safer: string;
  /** Where the rule can fire. */
  readonly engines: Engines;
}

/**
 * A rule of the review. `byEngine`: only engines whose descriptor lists it in `findings` report
 * it (their `lockWarnings`), so a new engine that reports it needs no edit here.
 */
const rule = (id: RuleId, severity: Severity, title: string, why: string, safer: string, byEngine = false): Rule => ({
  id,
  severity,
  title,
  why,
  safer,
  engines: byEngine ? enginesReporting(id as EngineFinding['rule']) : 'all',
});

export const RULES: readonly Rule[] = [
  rule(
    'drop-table',
    'error',
    'drops a table',
    'the version of the application still running reads and writes it until it is replaced: its queries fail, and the rows are gone',
    'stop using the table in one release, drop it in a later one (expand, then contract)',
  ),
  rule(
    'drop-column',
    'error',
    'drops a column',
    'the version of the application still running selects and inserts the column: its queries fail, and the values are gone',
    'stop reading and writing the column in one release, drop it in a later one',
  ),
  rule(
    'rename-table',
    'error',
    'renames a table',
    'the version of the application still running uses the old name: every query on it fails until the new version is out',
    'create the new table (or a view under the new name), write to both, move the readers, then drop the old one',
  ),
  rule(
    'rename-column',
    'error',
    'renames a column',
    'the version of the application still running uses the old name: its queries fail until the new version is out',
    'add the new column, write both and backfill, move the readers, then drop the old column in a later release',
  ),
  rule(
    'not-null-without-default',
    'error',
    'NOT NULL column without a default on a table with rows',
    'inserts by the version of the application still running do not set the column, so they fail',
    'add the column with a default (or nullable), backfill, and make it NOT NULL once every writer sets it',
  ),
  rule(
    'column-type-change',
    'warning',
    "changes a column's type",
    'values may be converted or refused, the running application may read a type it does not expect, and most engines rewrite the table',
    'add a column of the new type, backfill it, move the readers, then drop the old column',
  ),
  rule(
    'table-rewrite',
    'warning',
    'rewrites a large table',
    'every row is copied while the table (on SQLite, the whole database) is locked: the application waits for as long as the copy takes',
    'change the schema in steps that do not rewrite (a nullable column, a constant default), or run it in a maintenance window',
  ),
  rule(
    'index-not-concurrent',
    'warning',
    'builds an index without CONCURRENTLY on a large table',
    'CREATE INDEX blocks every write to the table until the index is built',
    'CREATE INDEX CONCURRENTLY, in a migration that runs outside a transaction',
    true,
  ),
  rule(
    'foreign-key-not-valid',
    'warning',
    'adds a foreign key or CHECK constraint without NOT VALID',
    'the new constraint scans every row of the table while it holds a lock that blocks writes',
    'ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a later statement (it only blocks schema changes)',
    true,
  ),
  rule(
    'unbounded-update',
    'warning',
    'UPDATE without WHERE',
    'every row is written in one statement, holding its locks for all of it; often a forgotten WHERE',
    'add the WHERE it needs, or update in batches by key range',
  ),
  rule(
    'unbounded-delete',
    'warning',
    'DELETE without WHERE',
    'every row of the table is deleted; often a forgotten WHERE',
    'add the WHERE it needs; to empty a table on purpose, allow the rule in the migration',
  ),
  rule(
    'rows-shrunk',
    'error',
    'a table has fewer rows after the migration',
    'rows were removed: data loss unless the migration means it',
    'if the migration means to delete them, say so: allow rows-shrunk in the migration',
  ),
  rule(
    'long-lock',
    'warning',
    'holds a lock the application waits on for longer than the threshold',
    'on the copy, the migration held the write lock (SQLite) or table locks (PostgreSQL) this long; the application waits, or times out, for as long on the real run',
    'split the migration, batch the data changes, or raise thresholds.longLockMs if the application can wait that long',
  ),
];

const BY_ID: ReadonlyMap<string, Rule> = new Map(RULES.map((entry) => [entry.id, entry]));

export function ruleOf(id: RuleId): Rule {
  return BY_ID.get(id)!;
}

export function isRuleId(id: string): id is RuleId {
  return BY_ID.has(id);
}
