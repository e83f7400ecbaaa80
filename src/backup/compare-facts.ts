import type { DatabaseFacts } from '../engines/contract.ts';

/** What must match for a restore to count as proven. */
export type ComparedFacts = Pick<DatabaseFacts, 'schemaHash' | 'tables' | 'appliedMigrations'>;

/** Differences in schema and row counts, as readable lines (empty when they match). */
export function compareFacts(
  expected: Omit<ComparedFacts, 'appliedMigrations'>,
  actual: Omit<ComparedFacts, 'appliedMigrations'>,
): string[] {
  const problems: string[] = [];
  if (expected.schemaHash !== actual.schemaHash) problems.push('schema differs');
  const names = new Set([...Object.keys(expected.tables), ...Object.keys(actual.tables)]);
  for (const name of [...names].sort()) {
    if (expected.tables[name] !== actual.tables[name]) {
      problems.push(`${name}: ${expected.tables[name] ?? 'missing'} rows expected, ${actual.tables[name] ?? 'missing'} found`);
    }
  }
  return problems;
}

/** compareFacts, plus the applied migrations: what a restore proof demands. */
export function compareRestored(expected: ComparedFacts, actual: ComparedFacts): string[] {
  const problems = compareFacts(expected, actual);
  if (expected.appliedMigrations.join() !== actual.appliedMigrations.join()) problems.push('applied migrations differ from the backup');
  return problems;
}
