import { readFile } from 'node:fs/promises';
import type { DatabaseFacts } from '../engines/contract.ts';
import { GuardError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { fileModeFrom } from '../fs/file-mode.ts';
import { pathExists } from '../fs/paths.ts';
import type { BackupKind } from './kinds.ts';

const FORMAT = 'migrate-guard-backup/2';

export interface BackupManifest extends DatabaseFacts {
  readonly format: typeof FORMAT;
  /** The backup file's name, relative to the manifest. */
  readonly file: string;
  /** The database it was taken from, as `Engine.name` gives it. */
  readonly source: string;
  readonly kind: BackupKind;
  readonly createdAt: string;
  /** Size and sha256 of the snapshot itself (for a compressed backup: of the decompressed bytes). */
  readonly bytes: number;
  readonly sha256: string;
  readonly compressed: boolean;
  readonly compressedBytes: number | null;
  readonly compressedSha256: string | null;
  /** Proven restorable: true when written; false once a scrub (`verify --all`) found it no longer matches. */
  readonly verified: boolean;
  readonly verifiedAt: string | null;
  /** When `verify --all` last re-read it; absent before its first scrub. */
  readonly scrubbedAt?: string | null;
  /** How deep that scrub went: the checksums, or the full proof (`--deep`). */
  readonly scrubLevel?: ScrubLevel | null;
  /** Why the last scrub failed; null when it passed. */
  readonly scrubError?: string | null;
}

export type ScrubLevel = 'checksum' | 'deep';

/** Format 1 (0.1 builds): SQLite facts at the top level. */
interface ManifestV1 extends Omit<BackupManifest, 'format' | 'engine' | 'engineVersion' | 'details'> {
  readonly format: 'migrate-guard-backup/1';
  readonly sqliteVersion: string;
  readonly pageSize: number;
  readonly pageCount: number;
}

export function manifestPathOf(backupFile: string): string {
  return `${backupFile}.manifest.json`;
}

/** Written atomically, with the backup's own permission bits: it describes the data's shape. */
export async function writeManifest(backupFile: string, fields: Omit<BackupManifest, 'format'>, modeFrom: string = backupFile): Promise<BackupManifest> {
  const manifest: BackupManifest = { format: FORMAT, ...fields };
  await writeFileAtomic(manifestPathOf(backupFile), `${JSON.stringify(manifest, null, 2)}\n`, await fileModeFrom(modeFrom));
  return manifest;
}

export interface ScrubVerdict {
  readonly at: string;
  readonly level: ScrubLevel;
  /** Null when the backup still matches its manifest. */
  readonly error: string | null;
}

/**
 * A scrub's verdict, kept in the manifest (rewritten atomically, its mode kept): a backup that no
 * longer matches gets `verified: false`, so everything that looks for a verified backup (listings,
 * retention, restore --latest / --to, drill, health) passes over it; one that matches again (a
 * read error that went away) is verified again. Null when the backup is gone (pruned meanwhile):
 * no manifest is written back for it.
 */
export async function recordScrub(backupFile: string, manifest: BackupManifest, verdict: ScrubVerdict): Promise<BackupManifest | null> {
  if (!(await pathExists(backupFile))) return null;
  const { format: _format, ...fields } = manifest;
  return writeManifest(backupFile, { ...fields, verified: verdict.error === null, scrubbedAt: verdict.at, scrubLevel: verdict.level, scrubError: verdict.error });
}

export async function readManifest(backupFile: string): Promise<BackupManifest> {
  let parsed: { format?: unknown };
  try {
    parsed = JSON.parse(await readFile(manifestPathOf(backupFile), 'utf8')) as { format?: unknown };
  } catch (error) {
    throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has no readable manifest; it is not a migrate-guard backup`, {
      cause: error,
    });
  }
  if (parsed.format === FORMAT) return parsed as BackupManifest;
  if (parsed.format === 'migrate-guard-backup/1') return fromV1(parsed as ManifestV1);
  throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has a manifest of an unknown format`);
}

function fromV1(v1: ManifestV1): BackupManifest {
  const { format: _format, sqliteVersion, pageSize, pageCount, ...rest } = v1;
  return { ...rest, format: FORMAT, engine: 'sqlite', engineVersion: sqliteVersion, details: { pageSize, pageCount } };
}
