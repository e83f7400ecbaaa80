import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { CheckResult } from '../checks/contract.ts';
import { messageOf } from '../errors.ts';
import { hashingTap, READ_CHUNK, sha256File } from '../fs/hash.ts';
import type { BackupManifest } from './manifest.ts';

/**
 * The daily scrub's check of one backup: its bytes re-read from disk and checksummed against the
 * manifest in one streaming pass (a compressed backup: the .gz as stored, and what it decompresses
 * to), nothing written anywhere. Bit rot, a truncated copy or an edited file shows here; the full
 * proof (`verify --all --deep`) adds the integrity check, schema and row counts.
 */
export async function checksumChecks(file: string, manifest: Pick<BackupManifest, 'compressed' | 'sha256' | 'compressedSha256'>): Promise<CheckResult[]> {
  const stored = hashingTap();
  const content = hashingTap();
  const drain = async (source: AsyncIterable<unknown>) => {
    for await (const _chunk of source) {
      // hashed on the way through
    }
  };
  const read = createReadStream(file, { highWaterMark: READ_CHUNK });
  try {
    await (manifest.compressed ? pipeline(read, stored, createGunzip(), content, drain) : pipeline(read, content, drain));
  } catch (error) {
    const unreadable: CheckResult = { name: 'readable', ok: false, detail: messageOf(error) };
    if (!manifest.compressed) return [unreadable];
    // A damaged .gz stops the decompression; its stored bytes still say whether they changed.
    const storedNow = await sha256File(file).catch(() => null);
    return storedNow === null ? [unreadable] : [compare('compressed-checksum', storedNow, manifest.compressedSha256), unreadable];
  }
  const checks: CheckResult[] = [];
  if (manifest.compressed) checks.push(compare('compressed-checksum', stored.hash.digest('hex'), manifest.compressedSha256));
  checks.push(compare('checksum', content.hash.digest('hex'), manifest.sha256));
  return checks;
}

function compare(name: string, actual: string, expected: string | null): CheckResult {
  const ok = actual === expected;
  return { name, ok, detail: `sha256 ${actual.slice(0, 12)}… ${ok ? 'matches' : `differs from the manifest's ${(expected ?? 'none').slice(0, 12)}…`}` };
}
