import type { ChangedSet, ForeignKeyViolation, IntegrityLevel, IntegrityResult, Reader } from '../contract.ts';
import { integrityCheck, readVerdict } from './integrity.ts';
import { foreignKeyViolations, listTables } from './schema.ts';

/** A PRAGMA argument: a string literal, so no name can break out of it. */
const literal = (name: string) => `'${name.replaceAll("'", "''")}'`;

/**
 * `full` with a complete changed set: `quick_check` of the whole file (every b-tree's structure,
 * the free list, no page lost or used twice) plus `integrity_check(table)` of each table the run
 * wrote, which also checks that table's indexes against its rows: everything `integrity_check`
 * proves, for everything the run could have touched. Without a set (or an incomplete one), the
 * whole file's `integrity_check`.
 */
export async function integrityOfChanges(reader: Reader, level: IntegrityLevel, changed?: ChangedSet): Promise<IntegrityResult> {
  if (level !== 'full' || changed === undefined || changed.unknown !== null) {
    const result = await integrityCheck(reader, level);
    if (level !== 'full' || changed?.unknown == null || !result.ok) return result;
    return {
      ok: true,
      detail: `ok (integrity_check of the whole file: the run's writes could not all be accounted for, at "${changed.unknown}")`,
    };
  }
  const quick = await integrityCheck(reader, 'quick');
  if (!quick.ok) return { ok: false, detail: `quick_check: ${quick.detail}` };
  const tables = await existingTables(reader, changed.tables);
  for (const table of tables) {
    const result = await readVerdict(reader, `PRAGMA integrity_check(${literal(table)})`);
    if (!result.ok) return { ok: false, detail: `integrity_check(${table}): ${result.detail}` };
  }
  return {
    ok: true,
    detail: `ok (quick_check of the whole file; integrity_check of what the run wrote: ${tables.join(', ') || 'no table'})`,
  };
}

/**
 * With a complete changed set, a violation can only be in a table the run wrote (its new or
 * changed rows), or in a table with a foreign key to one whose rows were updated, deleted,
 * dropped or renamed: those are checked, and the rest cannot have changed.
 */
export async function foreignKeyViolationsOfChanges(reader: Reader, changed?: ChangedSet): Promise<ForeignKeyViolation[]> {
  if (changed === undefined || changed.unknown !== null) return foreignKeyViolations(reader);
  const existing = await listTables(reader);
  const children = new Set(await existingTables(reader, changed.tables));
  const parents = new Set(changed.rowsChanged.map((table) => table.toLowerCase()));
  if (parents.size > 0) {
    for (const table of existing) {
      const keys = await reader.all<{ table: string }>(`PRAGMA foreign_key_list(${literal(table)})`);
      if (keys.some((key) => parents.has(key.table.toLowerCase()))) children.add(table);
    }
  }
  const violations: ForeignKeyViolation[] = [];
  for (const table of children) {
    const rows = await reader.all<{ table: string; rowid: number | null; parent: string }>(`PRAGMA foreign_key_check(${literal(table)})`);
    violations.push(...rows.map((row) => ({ table: row.table, row: row.rowid === null ? null : String(row.rowid), parent: row.parent })));
  }
  return violations;
}

/**
 * The tables of `names` that exist, under the names the schema gives them: SQLite's names are
 * case-insensitive, so `knex('TAGS')` wrote the table `tags`.
 */
async function existingTables(reader: Reader, names: readonly string[]): Promise<string[]> {
  const byLowerCase = new Map((await listTables(reader)).map((table) => [table.toLowerCase(), table]));
  return [...new Set(names.map((name) => byLowerCase.get(name.toLowerCase())).filter((table): table is string => table !== undefined))];
}
