import type { Engine, Reader } from '../engines/contract.ts';
import type { CheckResult } from './contract.ts';

/** Row count per table. */
export type RowCounts = Readonly<Record<string, number>>;

export interface RowsComparison {
  /** Every table's rows when the run began. */
  readonly before: RowCounts;
  /** The rows of the tables compared after the run; a table of `before` missing here and from `existing` was dropped or renamed. */
  readonly after: RowCounts;
  /** The tables the database has after the run. */
  readonly existing: readonly string[];
  /**
   * Of each table with fewer rows, how many the run itself removed; null when that cannot be told
   * from what another connection (the application) deleted meanwhile: then the table is
   * reported, not failed (as the restore's proof reports the rows an application wrote on top).
   */
  readonly removedByRun: Readonly<Record<string, number | null>>;
  /** Why the split could not be made, for the warning. */
  readonly unsplitReason: string;
  /** A migration turned foreign keys on: the likely cause of a loss. */
  readonly foreignKeysOn: boolean;
  /** The migration that declared it deletes rows of `table`, if one did. */
  readonly allowedBy: (table: string) => string | null;
  /** Tables the config lowers to a warning. */
  readonly warnTables: readonly string[];
}

export interface RowsVerdict {
  readonly result: CheckResult;
  readonly warnings: readonly string[];
}

const DECLARE = "a migration that means to delete rows declares it: exports.review = { allow: ['rows-shrunk'] }";

/**
 * The `rows` check: every table has at least the rows it had when the run began. A table with
 * fewer fails the run, unless a migration that ran declared it (`review.allow`), the config lowers
 * that table to a warning, or the application may have deleted them (it committed meanwhile).
 * Tables the run dropped or renamed are accounted for by the migration that did: not a loss.
 */
export function compareRows(input: RowsComparison): RowsVerdict {
  const existing = new Set(input.existing);
  const lost: string[] = [];
  const warnings: string[] = [];
  const allowed: string[] = [];
  const gone: string[] = [];
  let compared = 0;
  for (const [table, before] of Object.entries(input.before).sort(([a], [b]) => a.localeCompare(b))) {
    if (!existing.has(table)) {
      gone.push(table);
      continue;
    }
    const after = input.after[table];
    if (after === undefined) continue; // not written by the run: not re-counted
    compared += 1;
    if (after >= before) continue;
    const byRun = input.removedByRun[table] ?? null;
    const split =
      byRun !== null && byRun !== before - after
        ? `, ${Math.max(byRun, 0)} by the run, ${before - after - byRun} by another connection`
        : '';
    const line = `${table}: ${before} rows before the run, ${after} after (${before - after} lost${split})`;
    const declaredBy = input.allowedBy(table);
    if (declaredBy !== null) allowed.push(`${table} ${before} → ${after} (declared by ${declaredBy})`);
    else if (byRun !== null && byRun <= 0) warnings.push(`rows: ${line}; not failed: another connection (the application) deleted them`);
    else if (input.warnTables.includes(table)) warnings.push(`rows: ${line}; checks.rows.warn lowers ${table} to a warning`);
    else if (byRun === null) warnings.push(`rows: ${line}; not failed: ${input.unsplitReason}, so these deletes may be its own`);
    else lost.push(line);
  }
  if (input.foreignKeysOn) {
    warnings.push(
      "a migration turned foreign keys on (PRAGMA foreign_keys = ON): a DROP or DELETE may cascade into other tables; every table's rows were compared",
    );
  }
  const notes = [
    ...(allowed.length > 0 ? [`fewer rows as declared: ${allowed.join(', ')}`] : []),
    ...(gone.length > 0 ? [`dropped or renamed by the run: ${gone.join(', ')}`] : []),
  ];
  if (lost.length > 0) {
    const cause = input.foreignKeysOn
      ? 'likely cause: a migration turned foreign keys on and rebuilt (dropped) a table these point at, and ON DELETE CASCADE deleted their rows'
      : 'likely cause: a cascade (ON DELETE CASCADE) through a parent table a migration rebuilt, dropped or truncated with foreign keys on, or a DELETE';
    return { result: { name: 'rows', ok: false, detail: [lost.join('; '), cause, DECLARE, ...notes].join('; ') }, warnings };
  }
  const detail = `no table lost rows (${compared} of ${Object.keys(input.before).length} tables compared)`;
  return { result: { name: 'rows', ok: true, detail: [detail, ...notes].join('; ') }, warnings };
}

/** COUNT(*) of each table, through `reader` (inside a transaction: what it sees). */
export async function countRows(engine: Pick<Engine, 'quote'>, reader: Reader, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const [row] = await reader.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${engine.quote(table)}`);
    counts[table] = Number(row?.n ?? 0);
  }
  return counts;
}
