import type { CheckContext, CheckResult } from './contract.ts';

interface Violation {
  table: string;
  rowid: number | null;
  parent: string;
}

export async function foreignKeyCheck({ connection }: Pick<CheckContext, 'connection'>): Promise<CheckResult> {
  const rows = await connection.all<Violation>('PRAGMA foreign_key_check');
  if (rows.length === 0) return { name: 'foreign-keys', ok: true, detail: 'no violations' };
  const shown = rows
    .slice(0, 5)
    .map((row) => `${row.table} rowid ${row.rowid ?? '?'} references a missing ${row.parent} row`)
    .join('; ');
  const more = rows.length > 5 ? ` (and ${rows.length - 5} more)` : '';
  return { name: 'foreign-keys', ok: false, detail: `${rows.length} violation(s): ${shown}${more}` };
}
