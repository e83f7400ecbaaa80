import path from 'node:path';
import { assertSqliteFile, quoteIdentifier, SqliteConnection } from '../db.ts';
import type { AppliedMigration } from '../migrator/contract.ts';
import { pathExists } from '../files.ts';
import { MIGRATIONS_TABLE } from '../migrator/knex-storage.ts';
import { listMigrationFiles } from '../migrator/migration-files.ts';

export interface StatusOptions {
  readonly database: string;
  readonly migrationsDir: string;
}

export interface AppliedStatus extends AppliedMigration {
  /** `changed`: the file's checksum differs from the one recorded; `missing`: no file. */
  readonly file: 'unchanged' | 'changed' | 'missing';
}

export interface StatusReport {
  readonly command: 'status';
  readonly ok: true;
  readonly exitCode: 0;
  readonly database: string;
  readonly applied: readonly AppliedStatus[];
  readonly pending: readonly string[];
  /** Applied migrations whose file changed since they ran, or is missing. */
  readonly changed: readonly string[];
}

/** Applied and pending migrations. Reads through a connection that writes nothing. */
export async function runStatus(options: StatusOptions): Promise<StatusReport> {
  const database = path.resolve(options.database);
  const files = await listMigrationFiles(options.migrationsDir);
  const recorded = await readApplied(database);
  const byName = new Map(files.map((file) => [file.name, file]));
  const applied = recorded.map((migration): AppliedStatus => {
    const file = byName.get(migration.name);
    const state = !file ? 'missing' : migration.checksum !== null && migration.checksum !== file.checksum ? 'changed' : 'unchanged';
    return { ...migration, file: state };
  });
  const appliedNames = new Set(recorded.map((migration) => migration.name));
  return {
    command: 'status',
    ok: true,
    exitCode: 0,
    database,
    applied,
    pending: files.filter((file) => !appliedNames.has(file.name)).map((file) => file.name),
    changed: applied.filter((migration) => migration.file !== 'unchanged').map((migration) => migration.name),
  };
}

async function readApplied(database: string): Promise<AppliedMigration[]> {
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
  } finally {
    await connection.close();
  }
}
