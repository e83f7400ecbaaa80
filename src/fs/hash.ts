import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** 1 MiB reads: large enough to stream a gigabyte quickly, small enough to keep memory flat. */
export const READ_CHUNK = 1 << 20;

/** A pass-through stream that hashes (and counts) what flows through it. */
export function hashingTap(hash: Hash = createHash('sha256')): Transform & { readonly hash: Hash; bytes(): number } {
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  return Object.assign(tap, { hash, bytes: () => bytes });
}

/**
 * Streams the file through sha256 (after `through`, e.g. a gunzip, when given): memory stays flat
 * whatever the database size.
 */
export async function sha256File(file: string, through?: NodeJS.ReadWriteStream, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  // A sink for pipeline(): it yields nothing, it only feeds the hash.
  // eslint-disable-next-line require-yield
  const digest = async function* (source: AsyncIterable<Buffer | string>) {
    for await (const chunk of source) hash.update(chunk);
  };
  const read = createReadStream(file, { highWaterMark: READ_CHUNK });
  const options = signal ? { signal } : {};
  await (through ? pipeline(read, through, digest, options) : pipeline(read, digest, options));
  return hash.digest('hex');
}
