import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { sha256File } from '../files.ts';
import type { BackupManifest } from './manifest.ts';

export interface PlainBackup {
  /** A plain SQLite file with the backup's content (the backup itself when not compressed). */
  readonly file: string;
  /** sha256 of that content, read from disk just now. */
  readonly sha256: string;
  /** sha256 of the .gz as it is on disk, for a compressed backup. */
  readonly compressedSha256: string | null;
  release(): Promise<void>;
}

/**
 * The backup as a plain SQLite file, checksummed on the way: a compressed backup is decompressed
 * as a stream into a private temporary folder (memory stays flat), hashing both sides.
 */
export async function plainBackup(file: string, manifest: BackupManifest): Promise<PlainBackup> {
  if (!manifest.compressed) {
    return { file, sha256: await sha256File(file), compressedSha256: null, release: async () => undefined };
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-gunzip-'));
  const target = path.join(folder, 'backup.db');
  const compressedHash = createHash('sha256');
  const plainHash = createHash('sha256');
  const tap = (hash: ReturnType<typeof createHash>) =>
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), tap(compressedHash), createGunzip(), tap(plainHash), createWriteStream(target));
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    file: target,
    sha256: plainHash.digest('hex'),
    compressedSha256: compressedHash.digest('hex'),
    release: () => rm(folder, { recursive: true, force: true }),
  };
}
