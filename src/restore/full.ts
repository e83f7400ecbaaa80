import { SqliteConnection } from '../db.ts';
import { GuardError } from '../errors.ts';
import { sha256File } from '../files.ts';
import { integrityCheck } from '../checks/integrity.ts';
import { onlineCopy, type PageProgress } from '../backup/online-copy.ts';
import { compareSnapshots, snapshotDatabase, type BackupManifest } from '../backup/manifest.ts';

export interface RestoreOptions {
  readonly database: string;
  readonly backupFile: string;
  readonly manifest: BackupManifest;
  readonly onProgress?: PageProgress;
}

export interface RestoreProof {
  readonly integrity: string;
  readonly tables: number;
  readonly rows: number;
}

/**
 * Puts a backup back *into* the live database with the online backup API, then proves it: the
 * restored database passes `integrity_check` and has the schema and row counts the manifest
 * recorded. Throws (code RECOVERY_FAILED) when the restore cannot be done or proven.
 */
export async function restoreFull(options: RestoreOptions): Promise<RestoreProof> {
  const sha256 = await sha256File(options.backupFile).catch((error: unknown) => {
    throw new GuardError('BACKUP_INVALID', `backup ${options.backupFile} cannot be read`, { cause: error });
  });
  if (sha256 !== options.manifest.sha256) {
    throw new GuardError('BACKUP_INVALID', `backup ${options.backupFile} does not match its manifest checksum; it is corrupt`);
  }
  // From here on the live database may be half-way: a failure is critical (exit 3).
  const critical = { exitCode: 3, backup: options.backupFile } as const;
  const live = await SqliteConnection.open(options.database, 'readwrite');
  try {
    // The application may be mid-transaction; wait for it rather than fail the restore.
    live.setBusyTimeout(60_000);
    await onlineCopy(live.raw, options.backupFile, 'from-file', options.onProgress ? { onProgress: options.onProgress } : {});
    const integrity = await integrityCheck(live, 'full');
    if (!integrity.ok) {
      throw new GuardError('RECOVERY_FAILED', `restored database fails integrity_check: ${integrity.detail}`, critical);
    }
    const snapshot = await snapshotDatabase(live);
    const problems = compareSnapshots(options.manifest, snapshot);
    if (problems.length > 0) {
      throw new GuardError('RECOVERY_FAILED', `restored database differs from the backup: ${problems.join('; ')}`, critical);
    }
    const counts = Object.values(snapshot.tables);
    return { integrity: integrity.detail, tables: counts.length, rows: counts.reduce((a, b) => a + b, 0) };
  } catch (error) {
    if (error instanceof GuardError && error.code === 'RECOVERY_FAILED') throw error;
    throw new GuardError('RECOVERY_FAILED', `restore from ${options.backupFile} failed: ${(error as Error).message}`, {
      ...critical,
      cause: error,
    });
  } finally {
    await live.close().catch(() => undefined);
  }
}
