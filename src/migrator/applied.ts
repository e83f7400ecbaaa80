import { assertSqliteFile, quoteIdentifier, SqliteConnection } from '../db.ts';
import { GuardError } from '../errors.ts';
import { pathExists } from '../files.ts';
import type { AppliedMigration } from './contract.ts';
import { MIGRATIONS_TABLE } from './knex-storage.ts';

/**
 * The applied migrations, read through a connection that writes nothing and without loading knex
 * or umzug: `status`, and `migrate` when nothing is pending, answer from this alone. A database
 * too damaged to tell is refused, not crashed on.
 */
/** SQLite's "this is not a database / it is corrupt" as a refusal that names the way out. */
export function refusalIfDamaged(error: unknown, database: string): unknown {
  const code = (error as { code?: string }).code;
  if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB') return error;
  return new GuardError(
    'PREFLIGHT_FAILED',
    `database ${database} is damaged (${code}); it was left untouched: restore a backup (migrate-guard restore) before migrating`,
    { cause: error },
  );
}

export async function readAppliedMigrations(database: string): Promise<AppliedMigration[]> {
  if (!(await pathExists(database))) return [];
  const { bytes } = await assertSqliteFile(database);
  if (bytes === 0) return [];
  const connection = await SqliteConnection.openUntouched(database);
  try {
    const table = await connection.get("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [MIGRATIONS_TABLE]);
    if (!table) return [];
    const rows = await connection.all<{ name: string; checksum: string | null; applied_at: string; duration_ms: number | null }>(
      `SELECT name, checksum, applied_at, duration_ms FROM ${quoteIdentifier(MIGRATIONS_TABLE)} ORDER BY name`,
    );
    return rows.map((row) => ({ name: row.name, checksum: row.checksum, appliedAt: row.applied_at, durationMs: row.duration_ms }));
  } catch (error) {
    throw refusalIfDamaged(error, database);
  } finally {
    await connection.close();
  }
}
