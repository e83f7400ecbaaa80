import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { quoteIdentifier, type SqliteConnection } from '../db.ts';
import { GuardError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { MIGRATIONS_TABLE } from '../migrator/knex-storage.ts';

/** `pre-restore`: what the database held just before a restore overwrote it. */
export type BackupKind = 'manual' | 'pre-rollout' | 'pre-restore' | 'daily' | 'weekly' | 'monthly' | 'hot';
export const BACKUP_KINDS: readonly BackupKind[] = ['manual', 'pre-rollout', 'pre-restore', 'daily', 'weekly', 'monthly', 'hot'];
/** The kinds `backup --kind` takes; `pre-restore` copies are taken by restores themselves. */
export const REQUESTABLE_KINDS: readonly BackupKind[] = ['manual', 'pre-rollout', 'daily', 'weekly', 'monthly', 'hot'];

/** What a database looked like: enough to prove a restore put back the same thing. */
export interface DatabaseSnapshot {
  readonly sqliteVersion: string;
  readonly pageSize: number;
  readonly pageCount: number;
  readonly schemaHash: string;
  /** Row count per table, keyed by table name. */
  readonly tables: Readonly<Record<string, number>>;
  readonly appliedMigrations: readonly string[];
}

export interface BackupManifest extends DatabaseSnapshot {
  readonly format: 'migrate-guard-backup/1';
  /** The backup file's name, relative to the manifest. */
  readonly file: string;
  readonly source: string;
  readonly kind: BackupKind;
  readonly createdAt: string;
  /** Size and sha256 of the database itself (for a compressed backup: of the decompressed bytes). */
  readonly bytes: number;
  readonly sha256: string;
  readonly compressed: boolean;
  readonly compressedBytes: number | null;
  readonly compressedSha256: string | null;
  readonly verified: boolean;
  readonly verifiedAt: string | null;
}

export function manifestPathOf(backupFile: string): string {
  return `${backupFile}.manifest.json`;
}

export async function snapshotDatabase(connection: SqliteConnection): Promise<DatabaseSnapshot> {
  const version = await connection.get<{ v: string }>('SELECT sqlite_version() AS v');
  const pageSize = await connection.get<{ page_size: number }>('PRAGMA page_size');
  const pageCount = await connection.get<{ page_count: number }>('PRAGMA page_count');
  const schema = await connection.all<{ type: string; name: string; tbl_name: string; sql: string | null }>(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
  );
  const schemaHash = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
  const tables: Record<string, number> = {};
  for (const entry of schema) {
    if (entry.type !== 'table') continue;
    const row = await connection.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(entry.name)}`);
    tables[entry.name] = row?.n ?? 0;
  }
  let appliedMigrations: string[] = [];
  if (MIGRATIONS_TABLE in tables) {
    const rows = await connection.all<{ name: string }>(
      `SELECT name FROM ${quoteIdentifier(MIGRATIONS_TABLE)} ORDER BY name`,
    );
    appliedMigrations = rows.map((row) => row.name);
  }
  return {
    sqliteVersion: version?.v ?? 'unknown',
    pageSize: pageSize?.page_size ?? 0,
    pageCount: pageCount?.page_count ?? 0,
    schemaHash,
    tables,
    appliedMigrations,
  };
}

/** Differences between two snapshots' schema and row counts, as readable lines. */
export function compareSnapshots(expected: DatabaseSnapshot, actual: DatabaseSnapshot): string[] {
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

export async function writeManifest(backupFile: string, manifest: BackupManifest): Promise<void> {
  await writeFileAtomic(manifestPathOf(backupFile), `${JSON.stringify(manifest, null, 2)}\n`);
}

export async function readManifest(backupFile: string): Promise<BackupManifest> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(manifestPathOf(backupFile), 'utf8'));
  } catch (error) {
    throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has no readable manifest; it is not a migrate-guard backup`, {
      cause: error,
    });
  }
  if ((parsed as { format?: unknown }).format !== 'migrate-guard-backup/1') {
    throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has a manifest of an unknown format`);
  }
  return parsed as BackupManifest;
}
