import * as v from 'valibot';
import type { DatabaseFacts, DatabaseIdentity } from '../engines/contract.ts';
import { GuardError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { fileModeFrom } from '../fs/file-mode.ts';
import { pathExists } from '../fs/paths.ts';
import { readRegularFile } from '../fs/regular-file.ts';
import { BACKUP_KINDS, type BackupKind } from './kinds.ts';

const FORMAT = 'migrate-guard-backup/2';

export interface BackupManifest extends DatabaseFacts {
  readonly format: typeof FORMAT;
  /** The backup file's name, relative to the manifest. */
  readonly file: string;
  /** The database it was taken from, as `Engine.name` gives it. */
  readonly source: string;
  /**
   * Which database that is (`Engine.identity`): what every lookup of "this database's backups"
   * matches on. Absent in manifests written before it was recorded: those are matched by `source`.
   */
  readonly identity?: DatabaseIdentity | null;
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
export async function writeManifest(
  backupFile: string,
  fields: Omit<BackupManifest, 'format'>,
  modeFrom: string = backupFile,
): Promise<BackupManifest> {
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
  return writeManifest(backupFile, {
    ...fields,
    verified: verdict.error === null,
    scrubbedAt: verdict.at,
    scrubLevel: verdict.level,
    scrubError: verdict.error,
  });
}

/**
 * A manifest is small (table names and counts): one larger than this is not one of ours, and is
 * not read into memory.
 */
export const MAX_MANIFEST_BYTES = 8 << 20;

/**
 * How far ahead of this host's clock a manifest's `createdAt` may be (another host's clock, on a
 * shared backup folder). Further is a forged or broken manifest: a backup "taken in 2030" would
 * otherwise count as the newest, and keep `health` quiet for years.
 */
export const CLOCK_SKEW_MS = 60 * 60_000;

const sha256Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const isoTime = v.pipe(
  v.string(),
  v.check((text) => !Number.isNaN(Date.parse(text)), 'not a time'),
);
const identitySchema = v.object({
  path: v.nullable(v.string()),
  systemIdentifier: v.nullable(v.string()),
  database: v.nullable(v.string()),
});

/** What a manifest must hold before anything trusts it; fields added later stay allowed. */
const manifestSchema = v.looseObject({
  format: v.literal(FORMAT),
  file: v.string(),
  source: v.string(),
  identity: v.optional(v.nullable(identitySchema)),
  kind: v.picklist(BACKUP_KINDS),
  createdAt: isoTime,
  bytes: count,
  sha256: sha256Hex,
  compressed: v.boolean(),
  compressedBytes: v.nullable(count),
  compressedSha256: v.nullable(sha256Hex),
  verified: v.boolean(),
  verifiedAt: v.nullable(v.string()),
  engine: v.picklist(['sqlite', 'postgres', 'mysql']),
  engineVersion: v.string(),
  schemaHash: v.string(),
  tables: v.record(v.string(), count),
  appliedMigrations: v.array(v.string()),
  details: v.record(v.string(), v.union([v.string(), v.number()])),
});

/**
 * The manifest beside a backup, checked before anything trusts it: a regular file (a FIFO in its
 * place must not hang the reader), at most MAX_MANIFEST_BYTES, every field of the right type, a
 * compressed backup with its compressed checksum, and not taken in the future.
 */
export async function readManifest(backupFile: string, now: Date = new Date()): Promise<BackupManifest> {
  let parsed: { format?: unknown };
  try {
    parsed = JSON.parse(await readRegularFile(manifestPathOf(backupFile), MAX_MANIFEST_BYTES)) as { format?: unknown };
  } catch (error) {
    throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has no readable manifest; it is not a migrate-guard backup`, {
      cause: error,
    });
  }
  if (parsed === null || typeof parsed !== 'object')
    throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has a manifest that is not a JSON object`);
  let candidate: unknown;
  if (parsed.format === FORMAT) candidate = parsed;
  else if (parsed.format === 'migrate-guard-backup/1') candidate = fromV1(parsed as ManifestV1);
  else throw new GuardError('BACKUP_INVALID', `backup ${backupFile} has a manifest of an unknown format`);
  const checked = v.safeParse(manifestSchema, candidate);
  if (!checked.success) {
    const issue = checked.issues[0];
    const where = issue.path?.map((item) => String(item.key)).join('.') ?? 'manifest';
    throw new GuardError(
      'BACKUP_INVALID',
      `backup ${backupFile} has an invalid manifest (${where}: ${issue.message}); it is not a backup to trust`,
    );
  }
  const manifest = checked.output as BackupManifest;
  if (manifest.compressed && manifest.compressedSha256 === null) {
    throw new GuardError(
      'BACKUP_INVALID',
      `backup ${backupFile} has an invalid manifest (compressed without a compressed checksum); it is not a backup to trust`,
    );
  }
  if (Date.parse(manifest.createdAt) > now.getTime() + CLOCK_SKEW_MS) {
    throw new GuardError(
      'BACKUP_INVALID',
      `backup ${backupFile} has a manifest dated ${manifest.createdAt}, in the future; it is forged or broken and is not used`,
    );
  }
  return manifest;
}

function fromV1(v1: ManifestV1): BackupManifest {
  const { format: _format, sqliteVersion, pageSize, pageCount, ...rest } = v1;
  return { ...rest, format: FORMAT, engine: 'sqlite', engineVersion: sqliteVersion, details: { pageSize, pageCount } };
}
