import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createEmptyFile, fileModeFrom } from '../fs/file-mode.ts';
import { hashingTap } from '../fs/hash.ts';
import { regularReadStream } from '../fs/regular-file.ts';
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
 * A pass-through that fails once more than `limit` bytes went through it: a decompression stops
 * at the size the manifest promised, so a small .gz that inflates to gigabytes (a "gzip bomb")
 * never fills a disk or keeps a CPU busy.
 */
export function byteLimit(limit: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new Error(`${what} decompresses to more than the ${limit} bytes its manifest records`));
      else callback(null, chunk);
    },
  });
}

/** Drains a stream, for the passes whose only product is a hash. */
async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of source) {
    // hashed on the way through
  }
}

/**
 * The backup as a plain snapshot file, checksummed on the way. Only a regular file is read (a FIFO
 * in a backup's place would hang the reader). A compressed backup's .gz is checksummed first and
 * decompressed only when it is the one the manifest describes, as a stream (memory stays flat)
 * into a private temporary folder, stopping at the manifest's size; the decompressed copy gets the
 * backup's permission bits.
 */
export async function plainBackup(
  file: string,
  manifest: Pick<BackupManifest, 'compressed' | 'bytes' | 'compressedSha256'>,
): Promise<PlainBackup> {
  if (!manifest.compressed) {
    const plain = hashingTap();
    await pipeline(await regularReadStream(file), plain, drain);
    return { file, sha256: plain.hash.digest('hex'), compressedSha256: null, release: async () => undefined };
  }
  const stored = hashingTap();
  await pipeline(await regularReadStream(file), stored, drain);
  const compressedSha256 = stored.hash.digest('hex');
  // Not the .gz the manifest describes: nothing is decompressed (the caller refuses it).
  if (compressedSha256 !== manifest.compressedSha256) return { file, sha256: '', compressedSha256, release: async () => undefined };
  const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-gunzip-'));
  const target = path.join(folder, 'backup.db');
  const plain = hashingTap();
  try {
    await createEmptyFile(target, await fileModeFrom(file));
    await pipeline(await regularReadStream(file), createGunzip(), byteLimit(manifest.bytes, file), plain, createWriteStream(target));
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    file: target,
    sha256: plain.hash.digest('hex'),
    compressedSha256,
    release: () => rm(folder, { recursive: true, force: true }),
  };
}
