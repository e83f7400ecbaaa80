import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { CheckResult } from '../checks/contract.ts';
import { messageOf } from '../errors.ts';
import { hashingTap } from '../fs/hash.ts';
import { regularReadStream } from '../fs/regular-file.ts';
import { byteLimit } from './plain-file.ts';
import type { BackupManifest } from './manifest.ts';

/**
 * The daily scrub's check of one backup: its bytes re-read from disk and checksummed against the
 * manifest in one streaming pass (a compressed backup: the .gz as stored, and what it decompresses
 * to), nothing written anywhere. Bit rot, a truncated copy or an edited file shows here; the full
 * proof (`verify --all --deep`) adds the integrity check, schema and row counts.
 */
export async function checksumChecks(
  file: string,
  manifest: Pick<BackupManifest, 'compressed' | 'bytes' | 'sha256' | 'compressedSha256'>,
): Promise<CheckResult[]> {
  const stored = hashingTap();
  const content = hashingTap();
  const drain = async (source: AsyncIterable<unknown>) => {
    for await (const _chunk of source) {
      // hashed on the way through
    }
  };
  try {
    // Only a regular file is read (a FIFO in its place must not hang the scrub), and a .gz only
    // as far as the size its manifest records.
    const read = await regularReadStream(file);
    await (manifest.compressed
      ? pipeline(read, stored, createGunzip(), byteLimit(manifest.bytes, file), content, drain)
      : pipeline(read, content, drain));
  } catch (error) {
    const unreadable: CheckResult = { name: 'readable', ok: false, detail: messageOf(error) };
    if (!manifest.compressed) return [unreadable];
    // A damaged .gz stops the decompression; its stored bytes still say whether they changed.
    const again = hashingTap();
    const storedNow = await regularReadStream(file)
      .then((read) => pipeline(read, again, drain))
      .then(
        () => again.hash.digest('hex'),
        () => null,
      );
    return storedNow === null ? [unreadable] : [compare('compressed-checksum', storedNow, manifest.compressedSha256), unreadable];
  }
  const checks: CheckResult[] = [];
  if (manifest.compressed) checks.push(compare('compressed-checksum', stored.hash.digest('hex'), manifest.compressedSha256));
  checks.push(compare('checksum', content.hash.digest('hex'), manifest.sha256));
  return checks;
}

function compare(name: string, actual: string, expected: string | null): CheckResult {
  const ok = actual === expected;
  return {
    name,
    ok,
    detail: `sha256 ${actual.slice(0, 12)}… ${ok ? 'matches' : `differs from the manifest's ${(expected ?? 'none').slice(0, 12)}…`}`,
  };
}
