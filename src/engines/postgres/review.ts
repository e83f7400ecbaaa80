import type { EngineFinding, SchemaShape } from '../contract.ts';

const TABLE = String.raw`("(?:[^"]|"")+"(?:\."(?:[^"]|"")+")?|[\w.]+)`;
const ALTER = new RegExp(String.raw`^alter table (?:if exists )?(?:only )?${TABLE}`, 'i');
const INDEX = new RegExp(String.raw`^create (?:unique )?index (?!concurrently\b)(?:if not exists )?(?:[^ ]+ )?on (?:only )?${TABLE}`, 'i');
/** ADD [CONSTRAINT name] FOREIGN KEY / CHECK: the constraint is checked against every row as it is added. */
const ADDS_CONSTRAINT = /\badd (?:constraint (?:"(?:[^"]|"")+"|\w+) )?(foreign key|check)\b/i;
/** Forms of ALTER TABLE that rewrite every row: a column's type, a volatile default for a new column. */
const REWRITES =
  /\balter column\b.*\btype\b|\badd column\b.*\bdefault\b.*\b(random|now|clock_timestamp|gen_random_uuid|uuid_generate_v4)\s*\(/i;

const tableName = (raw: string) => {
  const last = /"((?:[^"]|"")+)"$/.exec(raw)?.[1]?.replaceAll('""', '"');
  return last ?? raw.split('.').at(-1)!;
};

/**
 * The PostgreSQL locks a migration holds for as long as a statement takes, on tables where that
 * is an outage: some ALTER TABLE forms rewrite every row under ACCESS EXCLUSIVE (no reads, no
 * writes); CREATE INDEX without CONCURRENTLY blocks every write while it builds; a foreign key or
 * CHECK added without NOT VALID scans every row under a lock that blocks writes.
 */
export function pgLockFindings(statements: readonly string[], before: SchemaShape, largeTableRows: number): EngineFinding[] {
  const findings: EngineFinding[] = [];
  const rowsOf = (name: string) => before.get(name)?.rows ?? 0;
  statements.forEach((statement, index) => {
    // A .sql file's statement keeps the comments above it: the verb comes after them.
    const flat = statement
      .replace(/^(?:\s*(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/))+/, '')
      .replace(/\s+/g, ' ')
      .trim();
    const alter = ALTER.exec(flat);
    if (alter) {
      const table = tableName(alter[1]!);
      const rows = rowsOf(table);
      if (REWRITES.test(flat) && rows >= largeTableRows) {
        findings.push({
          rule: 'table-rewrite',
          table,
          rows,
          statement: index,
          message: `rewrites table ${table} (${rows} rows) under an ACCESS EXCLUSIVE lock: no reads or writes meanwhile`,
        });
      }
      const constraint = ADDS_CONSTRAINT.exec(flat);
      if (constraint && !/\bnot valid\b/i.test(flat) && rows > 0) {
        const kind = constraint[1]!.toLowerCase() === 'check' ? 'CHECK constraint' : 'foreign key';
        findings.push({
          rule: 'foreign-key-not-valid',
          table,
          rows,
          statement: index,
          message: `adds a ${kind} to ${table} (${rows} rows) without NOT VALID: every row is checked while writes to it wait`,
        });
      }
      return;
    }
    const created = INDEX.exec(flat);
    if (created) {
      const table = tableName(created[1]!);
      const rows = rowsOf(table);
      if (rows >= largeTableRows) {
        findings.push({
          rule: 'index-not-concurrent',
          table,
          rows,
          statement: index,
          message: `CREATE INDEX on ${table} (${rows} rows) without CONCURRENTLY blocks every write to it while it builds`,
        });
      }
    }
  });
  return findings;
}
