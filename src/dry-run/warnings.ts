import type { SchemaShape } from '../engines/contract.ts';

/** knex rebuilds a SQLite table for most `alterTable` changes through a temporary copy. */
const REBUILD = /ALTER TABLE [`"[]?_knex_temp_alter\d+[`"\]]? RENAME TO [`"[]?([^`"\]\s]+)/i;
/** DELETE / UPDATE [OR …] at the start, or after a WITH clause; group 1 the verb, 2 the table. */
const WRITE = /(?:^|\)\s*)(DELETE\s+FROM|UPDATE(?:\s+OR\s+(?:ROLLBACK|ABORT|REPLACE|FAIL|IGNORE))?)\s+([`"[]?[^`"\]\s(]+)/i;

export interface WarningOptions {
  /** A knex table rebuild of a table with at least this many rows gets a warning. */
  readonly largeTableRows: number;
}

/**
 * Destructive or risky effects of one migration, read from the schema and row counts before and
 * after it ran on the copy, and from the statements it executed.
 */
export function destructiveWarnings(
  before: SchemaShape,
  after: SchemaShape,
  statements: readonly string[],
  options: WarningOptions,
): string[] {
  const warnings: string[] = [];
  const rebuilt = new Set<string>();
  for (const statement of statements) {
    const rebuild = REBUILD.exec(statement);
    if (rebuild?.[1]) rebuilt.add(rebuild[1]);
    // Judge the statement without its string literals: `SET note = 'WHERE'` has no WHERE clause.
    const code = statement.replace(/'(?:[^']|'')*'/g, "''").trim();
    const write = /^(DELETE|UPDATE|WITH)\b/i.test(code) ? WRITE.exec(code) : null;
    const table = write?.[2]?.replace(/^[`"[]/, '');
    if (write && table && !/\bWHERE\b/i.test(code) && !table.startsWith('_knex_temp_alter')) {
      warnings.push(`${write[1]!.split(/\s+/)[0]!.toUpperCase()} without WHERE on ${table}: ${oneLine(statement)}`);
    }
  }
  for (const [table, shape] of before) {
    const now = after.get(table);
    if (!now) {
      warnings.push(`drops table ${table} (${shape.rows} rows)`);
      continue;
    }
    for (const column of shape.columns) {
      if (!now.columns.some((c) => c.name === column.name)) warnings.push(`drops column ${table}.${column.name}`);
    }
    for (const column of now.columns) {
      const isNew = !shape.columns.some((c) => c.name === column.name);
      if (isNew && column.notNull && !column.hasDefault) {
        warnings.push(`adds NOT NULL column ${table}.${column.name} without a default`);
      }
    }
    if (now.rows < shape.rows) warnings.push(`row count of ${table} shrank: ${shape.rows} → ${now.rows}`);
    if (rebuilt.has(table) && shape.rows >= options.largeTableRows) {
      warnings.push(`rebuilds table ${table} (${shape.rows} rows): every row is copied while the write lock is held`);
    }
  }
  return warnings;
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
