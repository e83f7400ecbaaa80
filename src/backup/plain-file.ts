import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createEmptyFile, fileModeFrom } from '../fs/file-mode.ts';
import { hashingTap, READ_CHUNK, sha256File } from '../fs/hash.ts';
import type { BackupManifest } from './manifest.ts';

export interface PlainBackup {
  /** A plain snapshot file with the backup's content (the backup itself when not compressed). */
  readonly file: string;
  /** sha256 of that content, read from disk just now. */
  readonly sha256: string;
  /** sha256 of the .gz as it is on disk, for a compressed backup. */
  readonly compressedSha256: string | null;
  release(): Promise<void>;
}

/**
 * The backup as a plain snapshot file, checksummed on the way: a compressed backup is decompressed
 * as a stream into a private temporary folder (memory stays flat), hashing both sides; the
 * decompressed copy gets the backup's permission bits.
 */
export async function plainBackup(file: string, manifest: Pick<BackupManifest, 'compressed'>): Promise<PlainBackup> {
  if (!manifest.compressed) {
    return { file, sha256: await sha256File(file), compressedSha256: null, release: async () => undefined };
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-gunzip-'));
  const target = path.join(folder, 'backup.db');
  const compressed = hashingTap();
  const plain = hashingTap();
  try {
    await createEmptyFile(target, await fileModeFrom(file));
    await pipeline(createReadStream(file, { highWaterMark: READ_CHUNK }), compressed, createGunzip(), plain, createWriteStream(target));
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    file: target,
    sha256: plain.hash.digest('hex'),
    compressedSha256: compressed.hash.digest('hex'),
    release: () => rm(folder, { recursive: true, force: true }),
  };
}
