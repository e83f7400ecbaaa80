import { plainBackup, type PlainBackup } from '../backup/plain-file.ts';
import { readManifest, type BackupManifest } from '../backup/manifest.ts';
import type { AppliedReader, DatabaseFacts, Engine } from '../engines/contract.ts';
import { GuardError, messageOf } from '../errors.ts';
import { pathExists } from '../fs/paths.ts';

/** A backup checked and ready to copy in: a plain snapshot and what it must restore to. */
export interface PreparedBackup {
  readonly file: string;
  /** The plain snapshot to restore from (a temporary one for a compressed backup). */
  readonly source: string;
  readonly manifest: BackupManifest | null;
  /** Schema hash, row counts and applied migrations the restored database must show. */
  readonly expected: DatabaseFacts;
  release(): Promise<void>;
}

/**
 * Checks a backup before anything is touched: with a manifest, its checksum(s) must match (a
 * compressed backup is decompressed to a temporary file on the way); without one, it must be a
 * snapshot of this engine that the engine proves (SQLite: `integrity_check` exactly `ok`).
 * Anything else is refused (exit 1).
 */
export async function prepareBackup(
  engine: Pick<Engine, 'kind' | 'isSnapshot' | 'proveSnapshot' | 'snapshotLabel' | 'labels'>,
  applied: AppliedReader,
  file: string,
): Promise<PreparedBackup> {
  if (!(await pathExists(file))) throw new GuardError('BACKUP_INVALID', `backup ${file} does not exist`);
  const manifest = await readManifest(file).catch(() => null);
  if (manifest && manifest.engine !== engine.kind) {
    throw new GuardError('BACKUP_INVALID', `${file} is a ${manifest.engine} backup; it cannot be restored into a ${engine.kind} database`);
  }
  if (manifest?.restorePoint) throw restorePointRefusal(file, manifest.restorePoint.name);
  if (manifest) {
    let plain: PlainBackup;
    try {
      plain = await plainBackup(file, manifest);
    } catch (error) {
      throw new GuardError('BACKUP_INVALID', `backup ${file} cannot be read (${messageOf(error)}); it is truncated or corrupt`, {
        cause: error,
      });
    }
    const corrupt = plain.sha256 !== manifest.sha256 || (manifest.compressed && plain.compressedSha256 !== manifest.compressedSha256);
    if (corrupt) {
      await plain.release();
      throw new GuardError('BACKUP_INVALID', `backup ${file} does not match its manifest checksum; it is corrupt`);
    }
    return { file, source: plain.file, manifest, expected: manifest, release: () => plain.release() };
  }
  if (!(await engine.isSnapshot(file))) {
    throw new GuardError('BACKUP_INVALID', `${file} is not a ${engine.snapshotLabel} and has no manifest; it is not a backup`);
  }
  let proof;
  try {
    proof = await engine.proveSnapshot(file, applied);
  } catch (error) {
    throw new GuardError('BACKUP_INVALID', `${file} cannot be read as a ${engine.snapshotLabel}: ${messageOf(error)}`, { cause: error });
  }
  if (!proof.integrity.ok)
    throw new GuardError('BACKUP_INVALID', `${file} fails ${engine.labels.proof} (${proof.integrity.detail}); it cannot be restored`);
  if (proof.facts === null)
    throw new GuardError('BACKUP_INVALID', `${file} cannot be read as a ${engine.snapshotLabel}: ${proof.unreadable}`);
  return { file, source: file, manifest: null, expected: proof.facts, release: async () => undefined };
}

/**
 * A restore point's entry holds no data: the point is in the server's WAL archive, and going back
 * to it replaces the whole cluster (the server stopped), which only the archive tool does.
 */
function restorePointRefusal(file: string, point: string): GuardError {
  return new GuardError(
    'USAGE',
    `${file} is a restore point in the server's WAL archive (${point}), not a copy migrate-guard puts back; restore the cluster to it with your archive tool, the server stopped (pgBackRest: pgbackrest --stanza=<stanza> --delta --type=name --target=${point} --target-action=promote restore), or name a dump backup; nothing was changed`,
  );
}
