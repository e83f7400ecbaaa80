import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type {
  AppliedReader,
  DatabaseFacts,
  DatabaseIdentity,
  Engine,
  Progress,
  SnapshotFollower,
  TakenSnapshot,
} from '../engines/contract.ts';
import type { EngineLabels } from '../engines/contract.ts';
import { compareRestored } from './compare-facts.ts';
import { GuardError, messageOf } from '../errors.ts';
import { commitTemporary, fsyncPath, temporaryPath } from '../fs/atomic.ts';
import { createEmptyFile, fileModeFrom, makePrivateDir } from '../fs/file-mode.ts';
import { hashingTap, READ_CHUNK, sha256File } from '../fs/hash.ts';
import { withPeriodicFlush } from '../fs/periodic-flush.ts';
import { pathExists, removeIfPresent } from '../fs/paths.ts';
import { fileStamp } from '../units.ts';
import { recordJob } from './event-log.ts';
import { backupStem } from './identity.ts';
import type { BackupKind } from './kinds.ts';
import { manifestPathOf, writeManifest, type BackupManifest } from './manifest.ts';

export interface CreateBackupOptions {
  readonly engine: Pick<
    Engine,
    'name' | 'identity' | 'snapshotExtension' | 'snapshot' | 'followSnapshot' | 'proveSnapshot' | 'discardSnapshot' | 'fileMode' | 'labels'
  >;
  /** How the history names what ran, for the manifest. */
  readonly applied: AppliedReader;
  readonly backupDir: string;
  readonly kind: BackupKind;
  /** Streaming gzip of the verified copy (`.db.gz`); the manifest keeps both checksums. */
  readonly compress?: boolean;
  /** gzip level, 1 (fast, the default) to 9. */
  readonly gzipLevel?: number;
  /** The backup's path, when the caller must know it up front (a journal records it). */
  readonly file?: string;
  readonly onProgress?: Progress;
  /** Called between the long steps; throwing from it abandons the backup cleanly. */
  readonly checkpoint?: () => void;
  /** Says when the copy is done and verification (a full read of the copy) starts. */
  readonly onVerify?: (labels: EngineLabels) => void;
  /**
   * Take a snapshot that can catch up later (where the engine can): the caller proves it while the
   * database is in use, then calls `catchUp` holding its write lock (a rollout's group).
   */
  readonly follow?: boolean;
}

export interface VerifiedBackup {
  readonly file: string;
  readonly manifest: BackupManifest;
}

/**
 * `<backupDir>/<kind>/<db name>_<kind>_<YYYYMMDD_HHMMSS>.db[.gz]` (`.dump` for PostgreSQL): one
 * folder per kind, names that sort by time. A second backup of a kind within the same second gets
 * `_2`, `_3`, ….
 */
export async function nextBackupPath(
  backupDir: string,
  engine: Pick<Engine, 'name' | 'snapshotExtension'>,
  kind: BackupKind,
  at: Date,
  compress: boolean,
): Promise<string> {
  const base = backupStem(engine.name);
  const stamp = fileStamp(at);
  const folder = path.join(path.resolve(backupDir), kind);
  const extension = `${engine.snapshotExtension}${compress ? '.gz' : ''}`;
  for (let n = 1; ; n += 1) {
    const candidate = path.join(folder, `${base}_${kind}_${stamp}${n === 1 ? '' : `_${n}`}${extension}`);
    if (!(await pathExists(candidate)) && !(await pathExists(manifestPathOf(candidate)))) return candidate;
  }
}

/**
 * A backup is "verified" only when all of this held: the engine's snapshot written to a
 * temporary name and fsynced, checksummed, proven by the engine (SQLite: `integrity_check` exactly
 * `ok`), checksum re-read and equal (for a compressed backup: the .gz checksummed, re-read, and
 * decompressed back to the verified bytes), then renamed into place with its manifest. Any failure
 * removes the temporary files, so nothing is left that looks like a backup. Every attempt is a
 * line in the event log.
 */
export async function createBackup(options: CreateBackupOptions): Promise<VerifiedBackup> {
  return (await startBackup(options)).finish();
}

/** A backup whose copy is written and whose proof is running. */
export interface PendingBackup {
  readonly file: string;
  /** Settles when the proof does: resolves when the copy is proven, rejects with why not. */
  readonly proven: Promise<void>;
  /**
   * A followed snapshot, once proven, called holding the database's write lock before its first
   * change: writes what was committed since the snapshot into the copy (resolves with how many
   * pages, once written); `finish` then waits for that to be proven too. Nothing to do (0) when
   * the snapshot is not followed.
   */
  catchUp(expected: DatabaseFacts, mark?: string): Promise<number>;
  /** Once proven (and caught up): compresses (when asked), renames into place, writes the manifest. */
  finish(): Promise<VerifiedBackup>;
  /** Throws the copy away, interrupting its proof: the run that wanted it ended without it. */
  discard(): Promise<void>;
}

/**
 * Writes the engine's snapshot to the temporary name and starts its proof: the first checksum
 * pass and the engine's integrity check run side by side (the file is read twice, by two cores,
 * while it is in the page cache), then the facts, then the checksum is re-read. A rollout runs its
 * migrations meanwhile and commits only once `proven` resolved.
 */
export async function startBackup(options: CreateBackupOptions): Promise<PendingBackup> {
  const startedAt = performance.now();
  const createdAt = new Date();
  const { engine } = options;
  const compress = options.compress ?? false;
  const backupDir = path.resolve(options.backupDir);
  const file = options.file ?? (await nextBackupPath(backupDir, engine, options.kind, createdAt, compress));
  const folder = path.dirname(file);
  const temporary = temporaryPath(file);
  const compressedTemporary = `${temporary}.gz`;
  const log = (error: string | null, bytes: number | null = null) =>
    recordJob(backupDir, 'backup', { kind: options.kind, file, bytes, startedAt, error, database: engine.name });
  let taken: TakenSnapshot | null = null;
  const cleanUp = async () => {
    // The snapshot taken knows what it left (a proof under way); otherwise only the file may be there.
    await (taken ? taken.discard() : engine.discardSnapshot(temporary));
    await removeIfPresent(compressedTemporary).catch(() => undefined);
  };
  // Set by discard(): the run ended without this backup, so its end is not a failed backup job
  // (health would otherwise alert on an ordinary rollback).
  let discarded = false;
  const failed = async (error: unknown): Promise<never> => {
    await cleanUp();
    if (!discarded) await log(messageOf(error));
    // A pooler in transaction mode is not the backup's fault: its own refusal names the fix.
    if (
      error instanceof GuardError &&
      (error.code === 'INTERRUPTED' || error.code === 'BACKUP_UNVERIFIED' || error.code === 'TRANSACTION_POOLER')
    )
      throw error;
    // Not the folder's fault: no hint about its space or permissions.
    if (error instanceof GuardError && error.code === 'TOOL_MISSING')
      throw new GuardError('BACKUP_FAILED', `could not take the backup: ${error.message}`, { cause: error });
    throw new GuardError(
      'BACKUP_FAILED',
      `could not write a verified backup to ${folder}: ${messageOf(error)}; check free space and permissions there`,
      { cause: error },
    );
  };

  let identity: DatabaseIdentity;
  let follower: SnapshotFollower | null = null;
  try {
    identity = await engine.identity();
    await makePrivateDir(folder);
    if (options.follow && engine.followSnapshot) follower = await engine.followSnapshot(temporary, options.onProgress);
    else taken = await engine.snapshot(temporary, options.onProgress, options.applied);
    options.checkpoint?.();
  } catch (error) {
    await follower?.release();
    return failed(error);
  }
  options.onVerify?.(engine.labels);
  const abandon = new AbortController();
  const snapshotFacts = taken?.facts ?? null;
  const proveIt = taken
    ? taken.prove.bind(taken)
    : (applied: AppliedReader, signal: AbortSignal) => engine.proveSnapshot(temporary, applied, signal);
  const proof = (async () => {
    const [sha256, proof] = await Promise.all([sha256File(temporary, undefined, abandon.signal), proveIt(options.applied, abandon.signal)]);
    if (!proof.integrity.ok) throw unverified(`${engine.labels.proof} of the copy failed: ${proof.integrity.detail}`);
    if (proof.facts === null) throw unverified(`the copy cannot be read: ${proof.unreadable}`);
    // Where the engine read the database's facts in the snapshot's own transaction, the copy
    // restored must show exactly them: a dump that restores is not yet a dump of everything.
    const missing = snapshotFacts ? compareRestored(snapshotFacts, proof.facts) : [];
    if (missing.length > 0) throw unverified(`the copy does not hold what the database held: ${missing.join('; ')}`);
    if ((await sha256File(temporary)) !== sha256) throw unverified('the checksum changed when the copy was read back');
    return { sha256, facts: proof.facts };
  })();
  // Observed at once, so a failure while nobody awaits yet is not an unhandled rejection.
  const proven = proof.then(() => undefined);
  proven.catch(() => undefined);
  // A proof that failed has nothing left to catch up: the snapshot is let go at once.
  proven.catch(() => follower?.release());
  let caughtUp: Promise<{ sha256: string; facts: DatabaseFacts }> | null = null;
  const catchUp = async (expected: DatabaseFacts): Promise<number> => {
    if (follower === null) return 0;
    await proof;
    const started = await follower.catchUp(expected, options.applied);
    if (started === null) return 0;
    caughtUp = started.applied;
    caughtUp.catch(() => undefined);
    return started.pages;
  };

  let finishing: Promise<VerifiedBackup> | null = null;
  const finish = async (): Promise<VerifiedBackup> => {
    try {
      let { sha256, facts } = await proof;
      if (caughtUp !== null) ({ sha256, facts } = await caughtUp);
      options.checkpoint?.();
      if (discarded) throw new GuardError('INTERRUPTED', 'the backup was discarded before it was put in place');
      const { size } = await stat(temporary);
      let compressed: { bytes: number; sha256: string } | null = null;
      if (compress) compressed = await gzipVerified(temporary, compressedTemporary, sha256, options.gzipLevel ?? 1);
      const placed = compress ? compressedTemporary : temporary;
      const fields: Omit<BackupManifest, 'format'> = {
        file: path.basename(file),
        source: engine.name,
        identity,
        kind: options.kind,
        createdAt: createdAt.toISOString(),
        bytes: size,
        sha256,
        compressed: compressed !== null,
        compressedBytes: compressed?.bytes ?? null,
        compressedSha256: compressed?.sha256 ?? null,
        ...facts,
        verified: true,
        verifiedAt: new Date().toISOString(),
      };
      // The manifest first, the backup's rename last: a kill between them leaves a manifest with
      // nothing beside it (listed nowhere), never a backup listed without its proof.
      const manifest = await writeManifest(file, fields, placed);
      try {
        await commitTemporary(placed, file);
      } catch (error) {
        await removeIfPresent(manifestPathOf(file));
        throw error;
      }
      if (compress) await engine.discardSnapshot(temporary);
      await log(null, compressed?.bytes ?? size);
      return { file, manifest };
    } catch (error) {
      return failed(error);
    }
  };
  return {
    file,
    proven,
    catchUp,
    finish() {
      finishing ??= finish();
      return finishing;
    },
    async discard() {
      discarded = true;
      abandon.abort();
      await proof.catch(() => undefined);
      await follower?.release();
      await (caughtUp as Promise<unknown> | null)?.catch(() => undefined);
      // A finish already under way is waited for, so nothing is still writing (a copy renamed
      // without its manifest) once the run has returned. A backup it already put in place with
      // its manifest is proven and listed: it stays, like any other verified backup.
      await finishing?.catch(() => undefined);
      await cleanUp();
    },
  };
}

function unverified(reason: string): GuardError {
  return new GuardError('BACKUP_UNVERIFIED', `the backup failed verification and was deleted: ${reason}`, { exitCode: 4 });
}

/**
 * gzip as a stream (memory stays flat), hashing the compressed bytes on the way out; then proves
 * the .gz: its checksum re-read, and its content decompressed back to exactly the verified bytes.
 */
async function gzipVerified(plain: string, target: string, plainSha256: string, level: number): Promise<{ bytes: number; sha256: string }> {
  const tap = hashingTap();
  await createEmptyFile(target, await fileModeFrom(plain));
  await withPeriodicFlush(target, 100, () =>
    // 'r+': the file just created above (exclusively, never through a link), not a new open-or-create.
    pipeline(
      createReadStream(plain, { highWaterMark: READ_CHUNK }),
      createGzip({ level }),
      tap,
      createWriteStream(target, { flags: 'r+' }),
    ),
  );
  await fsyncPath(target);
  const sha256 = tap.hash.digest('hex');
  if ((await sha256File(target)) !== sha256) throw unverified('the compressed checksum changed when it was read back');
  if ((await sha256File(target, createGunzip())) !== plainSha256)
    throw unverified('the compressed file does not decompress to the verified copy');
  return { bytes: tap.bytes(), sha256 };
}
