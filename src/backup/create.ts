import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { SqliteConnection } from '../db.ts';
import { GuardError, messageOf } from '../errors.ts';
import { fsyncPath, pathExists, removeIfPresent, sha256File } from '../files.ts';
import { integrityCheck } from '../checks/integrity.ts';
import { fileStamp } from '../units.ts';
import { appendBackupEvent } from './event-log.ts';
import { withPeriodicFlush } from './flusher.ts';
import type { PageProgress } from './online-copy.ts';
import { copyToSelfContainedFile, removeTemporaryCopy } from './self-contained-copy.ts';
import { manifestPathOf, writeManifest, snapshotDatabase, type BackupKind, type BackupManifest } from './manifest.ts';

export interface CreateBackupOptions {
  readonly database: string;
  readonly backupDir: string;
  readonly kind: BackupKind;
  /** Streaming gzip of the verified copy (`.db.gz`); the manifest keeps both checksums. */
  readonly compress?: boolean;
  /** gzip level, 1 (fast, the default) to 9. */
  readonly gzipLevel?: number;
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

/**
 * `<backupDir>/<kind>/<db name>_<kind>_<YYYYMMDD_HHMMSS>.db[.gz]`: one folder per kind, names
 * that sort by time. A second backup of a kind within the same second gets `_2`, `_3`, ….
 */
export async function nextBackupPath(backupDir: string, database: string, kind: BackupKind, at: Date, compress: boolean): Promise<string> {
  const base = path.basename(database).replace(/\.(db|sqlite3?)$/i, '');
  const stamp = fileStamp(at);
  const folder = path.join(path.resolve(backupDir), kind);
  const extension = compress ? '.db.gz' : '.db';
  for (let n = 1; ; n += 1) {
    const candidate = path.join(folder, `${base}_${kind}_${stamp}${n === 1 ? '' : `_${n}`}${extension}`);
    if (!(await pathExists(candidate)) && !(await pathExists(manifestPathOf(candidate)))) return candidate;
  }
}

/**
 * A backup is "verified" only when all of this held: written through the online backup API to a
 * temporary name, fsynced, checksummed, `PRAGMA integrity_check` exactly `ok`, checksum re-read
 * and equal (for a compressed backup: the .gz checksummed, re-read, and decompressed back to the
 * verified bytes), then renamed into place with its manifest. Any failure removes the temporary
 * files, so nothing is left that looks like a backup. Every attempt is a line in the event log.
 */
export async function createBackup(options: CreateBackupOptions): Promise<VerifiedBackup> {
  const started = performance.now();
  const createdAt = new Date();
  const compress = options.compress ?? false;
  const file = options.file ?? (await nextBackupPath(options.backupDir, options.database, options.kind, createdAt, compress));
  const folder = path.dirname(file);
  const temporary = path.join(folder, `.${path.basename(file)}.tmp-${process.pid}`);
  const compressedTemporary = `${temporary}.gz`;
  const log = (fields: { verified: boolean; bytes: number | null; error: string | null }) =>
    appendBackupEvent(path.resolve(options.backupDir), {
      time: new Date().toISOString(),
      job: 'backup',
      kind: options.kind,
      file,
      durationMs: Math.round(performance.now() - started),
      ...fields,
    }).catch(() => undefined);
  try {
    await mkdir(folder, { recursive: true });
    await copyToSelfContainedFile(options.database, temporary, options.onProgress);
    options.checkpoint?.();
    options.onVerify?.();
    const sha256 = await sha256File(temporary);
    options.checkpoint?.();

    const copy = await SqliteConnection.open(temporary, 'readonly');
    let snapshot;
    try {
      const integrity = await integrityCheck(copy, 'full');
      if (!integrity.ok) throw unverified(`integrity_check of the copy failed: ${integrity.detail}`);
      snapshot = await snapshotDatabase(copy);
    } finally {
      await copy.close();
    }
    if ((await sha256File(temporary)) !== sha256) throw unverified('the checksum changed when the copy was read back');
    const { size } = await stat(temporary);

    let compressed: { bytes: number; sha256: string } | null = null;
    if (compress) {
      options.checkpoint?.();
      compressed = await gzipVerified(temporary, compressedTemporary, sha256, options.gzipLevel ?? 1);
      await rename(compressedTemporary, file);
      await removeIfPresent(temporary);
    } else {
      await rename(temporary, file);
    }
    await fsyncPath(folder);
    const manifest: BackupManifest = {
      format: 'migrate-guard-backup/1',
      file: path.basename(file),
      source: path.resolve(options.database),
      kind: options.kind,
      createdAt: createdAt.toISOString(),
      bytes: size,
      sha256,
      compressed: compressed !== null,
      compressedBytes: compressed?.bytes ?? null,
      compressedSha256: compressed?.sha256 ?? null,
      ...snapshot,
      verified: true,
      verifiedAt: new Date().toISOString(),
    };
    try {
      await writeManifest(file, manifest);
    } catch (error) {
      await removeIfPresent(file);
      throw error;
    }
    await log({ verified: true, bytes: compressed?.bytes ?? size, error: null });
    return { file, manifest };
  } catch (error) {
    await removeTemporaryCopy(temporary);
    await removeIfPresent(compressedTemporary).catch(() => undefined);
    await log({ verified: false, bytes: null, error: messageOf(error) });
    if (error instanceof GuardError && (error.code === 'INTERRUPTED' || error.code === 'BACKUP_UNVERIFIED')) throw error;
    throw new GuardError(
      'BACKUP_FAILED',
      `could not write a verified backup to ${folder}: ${messageOf(error)}; check free space and permissions there`,
      { cause: error },
    );
  }
}

function unverified(reason: string): GuardError {
  return new GuardError('BACKUP_UNVERIFIED', `the backup failed verification and was deleted: ${reason}`, { exitCode: 4 });
}

/**
 * gzip as a stream (memory stays flat), hashing the compressed bytes on the way out; then proves
 * the .gz: its checksum re-read, and its content decompressed back to exactly the verified bytes.
 */
async function gzipVerified(plain: string, target: string, plainSha256: string, level: number): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  await withPeriodicFlush(target, 100, () =>
    pipeline(createReadStream(plain, { highWaterMark: 1 << 20 }), createGzip({ level }), tap, createWriteStream(target)),
  );
  await fsyncPath(target);
  const sha256 = hash.digest('hex');
  if ((await sha256File(target)) !== sha256) throw unverified('the compressed checksum changed when it was read back');
  if ((await gunzipSha256(target)) !== plainSha256) throw unverified('the compressed file does not decompress to the verified copy');
  return { bytes, sha256 };
}

/** sha256 of a .gz file's decompressed content, streamed. */
export async function gunzipSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), createGunzip(), async function* (source) {
    for await (const chunk of source) hash.update(chunk as Buffer);
  });
  return hash.digest('hex');
}
