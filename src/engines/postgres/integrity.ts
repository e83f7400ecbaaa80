import type { ChangedSet, ForeignKeyViolation, IntegrityLevel, IntegrityResult, Reader } from '../contract.ts';
import { quotePg } from './connection.ts';
import { listPgTables, pgForeignKeyViolations } from './schema.ts';

/**
 * No index left invalid (a failed `CREATE INDEX CONCURRENTLY` leaves one), no constraint left
 * `NOT VALID` on a table the run wrote, and — where the `amcheck` extension is installed —
 * `bt_index_check(heapallindexed)` of the B-tree indexes of the tables the run wrote (of every
 * table when that set is unknown), PostgreSQL's counterpart of SQLite's index-against-table check.
 */
export async function pgIntegrity(reader: Reader, level: IntegrityLevel, changed?: ChangedSet): Promise<IntegrityResult> {
  const invalid = await reader.all<{ name: string }>(
    `SELECT i.indexrelid::regclass::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
      WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace`,
  );
  if (invalid.length > 0) return { ok: false, detail: `index(es) left invalid: ${invalid.map((row) => row.name).join(', ')}` };
  const known = changed !== undefined && changed.unknown === null;
  const tables = known ? [...changed.tables] : await listPgTables(reader);
  const notValid = await reader.all<{ name: string }>(
    `SELECT conrelid::regclass::text || '.' || conname AS name FROM pg_constraint
      WHERE NOT convalidated AND connamespace = current_schema()::regnamespace AND conrelid::regclass::text = ANY(?::text[])`,
    [tables.map(quoteIfNeeded)],
  );
  if (notValid.length > 0) return { ok: false, detail: `constraint(s) left NOT VALID: ${notValid.map((row) => row.name).join(', ')}` };
  if (level === 'quick') return { ok: true, detail: 'ok (no invalid index)' };
  const [amcheck] = await reader.all<{ installed: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck') AS installed",
  );
  if (!amcheck?.installed) {
    return {
      ok: true,
      detail: 'ok (no invalid index; amcheck is not installed, so index contents were not checked: CREATE EXTENSION amcheck)',
    };
  }
  const indexes = await reader.all<{ oid: number; name: string }>(
    `SELECT i.indexrelid::oid AS oid, i.indexrelid::regclass::text AS name FROM pg_index i
       JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
      WHERE am.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(?::text[])`,
    [tables],
  );
  for (const index of indexes) {
    try {
      await reader.all('SELECT bt_index_check(?::regclass, true)', [index.oid]);
    } catch (error) {
      return { ok: false, detail: `bt_index_check(${index.name}): ${(error as Error).message}` };
    }
  }
  return {
    ok: true,
    detail: `ok (no invalid index; bt_index_check of ${indexes.length} index(es) of ${known ? `what the run wrote: ${tables.join(', ') || 'no table'}` : 'every table'})`,
  };
}

/** regclass::text quotes a name only when it needs quotes. */
function quoteIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : quotePg(name);
}

/** Rows pointing nowhere; with a complete `changed`, only where a violation can have appeared. */
export async function pgForeignKeyViolationsOf(reader: Reader, changed?: ChangedSet): Promise<ForeignKeyViolation[]> {
  if (changed === undefined || changed.unknown !== null) return pgForeignKeyViolations(reader);
  // Where a violation can have appeared: the tables written, and those pointing at a table whose rows changed.
  const children = await reader.all<{ name: string }>(
    `SELECT DISTINCT c.relname AS name FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
        WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace AND p.relname = ANY(?::text[])`,
    [[...changed.rowsChanged]],
  );
  return pgForeignKeyViolations(reader, [...changed.tables, ...children.map((child) => child.name)]);
}
