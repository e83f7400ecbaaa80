import type { ForeignKeyViolation } from '../engines/contract.ts';
import type { CheckContext, CheckResult } from './contract.ts';

/** One violation as people read it: `trades rowid 7 references a missing accounts row`. */
export function describeViolation(violation: ForeignKeyViolation): string {
  return `${violation.table} rowid ${violation.row ?? '?'} references a missing ${violation.parent} row`;
}

export async function foreignKeyCheck({
  engine,
  reader,
  changed,
}: Pick<CheckContext, 'engine' | 'reader' | 'changed'>): Promise<CheckResult> {
  const violations = await engine.foreignKeyViolations(reader, changed);
  if (violations.length === 0) return { name: 'foreign-keys', ok: true, detail: 'no violations' };
  const shown = violations.slice(0, 5).map(describeViolation).join('; ');
  const more = violations.length > 5 ? ` (and ${violations.length - 5} more)` : '';
  return { name: 'foreign-keys', ok: false, detail: `${violations.length} violation(s): ${shown}${more}` };
}
