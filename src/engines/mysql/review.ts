import type { EngineFinding, SchemaShape } from '../contract.ts';

/**
 * What a dry run warns about how MySQL/MariaDB locks: an `ALTER TABLE` of a table with at least
 * `largeTableRows` rows that does not ask for `ALGORITHM=INSTANT` or `INPLACE`. Without it the
 * server may pick COPY (a type change, a new primary key, a charset conversion…), which rebuilds
 * the table and blocks its writers for the whole copy; asking for INSTANT/INPLACE makes the server
 * refuse the statement instead of copying silently. OPTIMIZE TABLE rebuilds too.
 */
export function myLockFindings(statements: readonly string[], before: SchemaShape, largeTableRows: number): EngineFinding[] {
  const findings: EngineFinding[] = [];
  statements.forEach((statement, index) => {
    const flat = statement.replace(/\s+/g, ' ').trim();
    const alter =
      /^(ALTER|OPTIMIZE)\s+(?:ONLINE\s+|IGNORE\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?((?:`(?:[^`]|``)+`|[\w$]+)(?:\.(?:`(?:[^`]|``)+`|[\w$]+))?)/i.exec(
        flat,
      );
    if (!alter) return;
    const table = alter[2]!.split('.').pop()!.replace(/^`|`$/g, '').replaceAll('``', '`');
    const rows = before.get(table)?.rows ?? 0;
    if (rows < largeTableRows) return;
    if (alter[1]!.toUpperCase() === 'ALTER' && /\bALGORITHM\s*=?\s*(INSTANT|INPLACE|NOCOPY)\b/i.test(flat)) return;
    findings.push({
      rule: 'table-rewrite',
      table,
      rows,
      statement: index,
      message: `${alter[1]!.toUpperCase()} TABLE ${table} (${rows} rows) may copy the whole table, blocking its writes until done: add ALGORITHM=INSTANT or ALGORITHM=INPLACE, LOCK=NONE (the server then refuses it rather than copying), or run it in a quiet hour`,
    });
  });
  return findings;
}
