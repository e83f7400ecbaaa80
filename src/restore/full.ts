import path from 'node:path';
import { plainBackup, type PlainBackup } from '../backup/plain-file.ts';
import { compareSnapshots, readManifest, snapshotDatabase, type BackupManifest, type DatabaseSnapshot } from '../backup/manifest.ts';
import { onlineCopy, type PageProgress } from '../backup/online-copy.ts';
import { integrityCheck } from '../checks/integrity.ts';
import { foreignKeyCheck } from '../checks/foreign-keys.ts';
import { defaultSmokeQueries, smokeQueries } from '../checks/smoke.ts';
import { hasSqliteHeader, quoteIdentifier, SqliteConnection } from '../db.ts';
import { GuardError, messageOf } from '../errors.ts';
import { pathExists } from '../files.ts';

/** A backup checked and ready to copy in: a plain SQLite file and what it must restore to. */
export interface PreparedBackup {
  readonly file: string;
  /** The plain SQLite file to copy from (a temporary one for a compressed backup). */
  readonly source: string;
  readonly manifest: BackupManifest | null;
  /** Schema hash, row counts and applied migrations the restored database must show. */
  readonly expected: DatabaseSnapshot;
  release(): Promise<void>;
}

/**
 * Checks a backup before anything is touched: with a manifest, its checksum(s) must match (a
 * compressed backup is decompressed to a temporary file on the way); without one, it must be a
 * SQLite file whose `integrity_check` is exactly `ok`. Anything else is refused (exit 1).
 */
export async function prepareBackup(file: string): Promise<PreparedBackup> {
  if (!(await pathExists(file))) throw new GuardError('BACKUP_INVALID', `backup ${file} does not exist`);
  const manifest = await readManifest(file).catch(() => null);
  if (manifest) {
    let plain: PlainBackup;
    try {
      plain = await plainBackup(file, manifest);
    } catch (error) {
      throw new GuardError('BACKUP_INVALID', `backup ${file} cannot be read (${messageOf(error)}); it is truncated or corrupt`, { cause: error });
    }
    const corrupt =
      plain.sha256 !== manifest.sha256 || (manifest.compressed && plain.compressedSha256 !== manifest.compressedSha256);
    if (corrupt) {
      await plain.release();
      throw new GuardError('BACKUP_INVALID', `backup ${file} does not match its manifest checksum; it is corrupt`);
    }
    return { file, source: plain.file, manifest, expected: manifest, release: () => plain.release() };
  }
  if (!(await hasSqliteHeader(file))) {
    throw new GuardError('BACKUP_INVALID', `${file} is not a SQLite database and has no manifest; it is not a backup`);
  }
  const connection = await SqliteConnection.open(file, 'readonly');
  try {
    const integrity = await integrityCheck(connection, 'full');
    if (!integrity.ok) throw new GuardError('BACKUP_INVALID', `${file} fails integrity_check (${integrity.detail}); it cannot be restored`);
    return { file, source: file, manifest: null, expected: await snapshotDatabase(connection), release: async () => undefined };
  } catch (error) {
    if (error instanceof GuardError) throw error;
    throw new GuardError('BACKUP_INVALID', `${file} cannot be read as a SQLite database: ${messageOf(error)}`, { cause: error });
  } finally {
    await connection.close();
  }
}

export interface RestoreOptions {
  readonly database: string;
  readonly backup: PreparedBackup;
  readonly onProgress?: PageProgress;
  /**
   * The `restore` command's stricter proof: no foreign-key violations and the smoke queries run
   * (null: count every table). The automatic rollback puts back what was there, violations and all.
   */
  readonly strict?: { readonly smoke: readonly string[] | null };
}

export interface RestoreProof {
  readonly integrity: string;
  /** Row count of every table after the restore. */
  readonly tables: Readonly<Record<string, number>>;
  /** Rows not soft-deleted, for tables with a `deletedAt` column. */
  readonly liveRows: Readonly<Record<string, number>>;
  readonly appliedMigrations: readonly string[];
}

/**
 * Puts a backup back *into* the live database with the online backup API, then proves it: the
 * restored database passes `integrity_check` and has the schema, row counts and migration state
 * the backup had. Throws RECOVERY_FAILED (exit 3: the database was changed) when it cannot.
 */
export async function restoreFull(options: RestoreOptions): Promise<RestoreProof> {
  const critical = { exitCode: 3, backup: options.backup.file } as const;
  const fail = (message: string, cause?: unknown) =>
    new GuardError('RECOVERY_FAILED', message, cause === undefined ? critical : { ...critical, cause });
  const live = await SqliteConnection.open(path.resolve(options.database), 'create');
  try {
    // The application may be mid-transaction; wait for it rather than fail the restore.
    live.setBusyTimeout(60_000);
    try {
      await onlineCopy(live.raw, options.backup.source, 'from-file', options.onProgress ? { onProgress: options.onProgress } : {});
    } catch (error) {
      throw fail(`restore from ${options.backup.file} failed: ${messageOf(error)}`, error);
    }
    // When the backup's checksum matched its manifest, its bytes are the ones that passed a full
    // integrity_check when it was taken, and the backup API copied exactly those pages: a second
    // full pass (25 s per GB here) proves nothing new, while quick_check (3.6 s) still catches a
    // bad copy (b-tree structure, page accounting). A backup without a manifest had its full check
    // in prepareBackup.
    const integrity = await integrityCheck(live, 'quick');
    if (!integrity.ok) throw fail(`restored database fails quick_check: ${integrity.detail}`);
    const snapshot = await snapshotDatabase(live);
    const problems = compareSnapshots(options.backup.expected, snapshot);
    if (options.backup.expected.appliedMigrations.join() !== snapshot.appliedMigrations.join()) {
      problems.push('applied migrations differ from the backup');
    }
    if (problems.length > 0) throw fail(`restored database differs from the backup: ${problems.join('; ')}`);
    if (options.strict) {
      const context = { connection: live };
      const foreignKeys = await foreignKeyCheck(context);
      if (!foreignKeys.ok) throw fail(`restored database has foreign-key violations: ${foreignKeys.detail}`);
      const smoke = await smokeQueries(context, options.strict.smoke ?? (await defaultSmokeQueries(context)));
      if (!smoke.ok) throw fail(`smoke queries fail on the restored database: ${smoke.detail}`);
    }
    return {
      integrity: integrity.detail,
      tables: snapshot.tables,
      liveRows: await liveRowCounts(live, Object.keys(snapshot.tables)),
      appliedMigrations: snapshot.appliedMigrations,
    };
  } catch (error) {
    if (error instanceof GuardError) throw error;
    throw fail(`restore from ${options.backup.file} could not be verified: ${messageOf(error)}`, error);
  } finally {
    await live.close().catch(() => undefined);
  }
}

/** Soft-delete-aware counts: the rows the application still shows. */
async function liveRowCounts(connection: SqliteConnection, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const columns = await connection.all<{ name: string }>(`PRAGMA table_info(${quoteIdentifier(table)})`);
    if (!columns.some((column) => column.name === 'deletedAt')) continue;
    const row = await connection.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(table)} WHERE "deletedAt" IS NULL`);
    counts[table] = row?.n ?? 0;
  }
  return counts;
}
