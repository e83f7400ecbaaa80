import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { SqliteConnection } from '../db.ts';
import { GuardError, messageOf } from '../errors.ts';
import { fsyncPath, removeIfPresent, sha256File } from '../files.ts';
import { integrityCheck } from '../checks/integrity.ts';
import { onlineCopy, type PageProgress } from './online-copy.ts';
import { writeManifest, snapshotDatabase, type BackupKind, type BackupManifest } from './manifest.ts';

export interface CreateBackupOptions {
  readonly database: string;
  readonly backupDir: string;
  readonly kind: BackupKind;
  /** The backup's path, when the caller must know it up front (a journal records it). */
  readonly file?: string;
  readonly onProgress?: PageProgress;
  /** Called between the long steps; throwing from it abandons the backup cleanly. */
  readonly checkpoint?: () => void;
  /** Says when the copy is done and verification (a full read of the copy) starts. */
  readonly onVerify?: () => void;
}

export interface VerifiedBackup {
  readonly file: string;
  readonly manifest: BackupManifest;
}

/** `<db name>-<kind>-<UTC time>.sqlite`; sortable by time within a kind. */
export function backupFileName(database: string, kind: BackupKind, at: Date): string {
  const base = path.basename(database).replace(/\.(db|sqlite3?)$/i, '');
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${base}-${kind}-${stamp}.sqlite`;
}

/**
 * A backup is "verified" only when all of this held: written through the online backup API to a
 * temporary name, fsynced, checksummed, `PRAGMA integrity_check` exactly `ok`, checksum re-read
 * and equal, then renamed into place with its manifest. Any failure removes the temporary file,
 * so nothing is left that looks like a backup.
 */
export async function createBackup(options: CreateBackupOptions): Promise<VerifiedBackup> {
  const createdAt = new Date();
  const file = options.file ?? path.join(options.backupDir, backupFileName(options.database, options.kind, createdAt));
  const temporary = path.join(options.backupDir, `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    await mkdir(options.backupDir, { recursive: true });
    const source = await SqliteConnection.open(options.database, 'readonly');
    try {
      await onlineCopy(source.raw, temporary, 'to-file', options.onProgress);
    } finally {
      await source.close();
    }
    options.checkpoint?.();

    // A copy of a WAL database says "WAL" in its header, and opening it would then create -wal and
    // -shm files beside the backup. A backup is a single self-contained file.
    const normalise = await SqliteConnection.open(temporary, 'readwrite');
    try {
      await normalise.exec('PRAGMA journal_mode = DELETE');
    } finally {
      await normalise.close();
    }
    await fsyncPath(temporary);
    options.onVerify?.();
    const sha256 = await sha256File(temporary);
    options.checkpoint?.();

    const copy = await SqliteConnection.open(temporary, 'readonly');
    let snapshot;
    try {
      const integrity = await integrityCheck(copy, 'full');
      if (!integrity.ok) throw new Error(`integrity_check of the copy failed: ${integrity.detail}`);
      snapshot = await snapshotDatabase(copy);
    } finally {
      await copy.close();
    }
    const reread = await sha256File(temporary);
    if (reread !== sha256) throw new Error('the checksum changed when the copy was read back');

    const { size } = await stat(temporary);
    await rename(temporary, file);
    await fsyncPath(options.backupDir);
    const now = new Date().toISOString();
    const manifest: BackupManifest = {
      format: 'migrate-guard-backup/1',
      file: path.basename(file),
      source: path.resolve(options.database),
      kind: options.kind,
      createdAt: createdAt.toISOString(),
      bytes: size,
      sha256,
      ...snapshot,
      verified: true,
      verifiedAt: now,
    };
    try {
      await writeManifest(file, manifest);
    } catch (error) {
      await removeIfPresent(file);
      throw error;
    }
    return { file, manifest };
  } catch (error) {
    // SQLite may have left a -journal (or -wal/-shm) beside the temporary copy too.
    for (const leftover of [temporary, `${temporary}-journal`, `${temporary}-wal`, `${temporary}-shm`]) {
      await removeIfPresent(leftover).catch(() => undefined);
    }
    if (error instanceof GuardError && error.code === 'INTERRUPTED') throw error;
    throw new GuardError(
      'BACKUP_FAILED',
      `could not write a verified backup to ${options.backupDir}: ${messageOf(error)}; check free space and permissions there`,
      { cause: error },
    );
  }
}
