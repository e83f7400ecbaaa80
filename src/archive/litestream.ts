import { createRequire } from 'node:module';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GuardError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';

/** Pinned: the npm package @flydotio/litestream 1.0.1 ships Litestream v0.3.13. */
export const LITESTREAM_PACKAGE = '@flydotio/litestream@1.0.1';

export interface ArchiveSettings {
  /** A Litestream replica URL (`s3://…`, `file://…`); default a file replica under the backup folder. */
  readonly replica: string | null;
  /** How often Litestream ships the WAL, Litestream's syntax (`1s`, `100ms`). */
  readonly syncInterval: string;
}

/** The Litestream binary for this platform, from the pinned npm package. */
export function litestreamBinary(): string {
  const platformPackage = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    return createRequire(import.meta.url).resolve(`${platformPackage}/litestream`);
  } catch (error) {
    throw new GuardError(
      'USAGE',
      `the Litestream binary for ${process.platform}-${process.arch} is missing: run npm install ${LITESTREAM_PACKAGE} (or install Litestream v0.3.13 and put it on PATH)`,
      { cause: error },
    );
  }
}

export function defaultArchiveDir(backupDir: string): string {
  return path.join(backupDir, 'wal-archive');
}

/**
 * Writes the Litestream configuration for one database, derived from ours, and returns its path.
 * Kept beside the archive, so `litestream` can be run by hand with the same settings.
 */
export async function writeLitestreamConfig(database: string, backupDir: string, settings: ArchiveSettings): Promise<string> {
  const archiveDir = defaultArchiveDir(backupDir);
  await mkdir(archiveDir, { recursive: true });
  const replica = settings.replica
    ? `      - url: ${JSON.stringify(settings.replica)}`
    : `      - type: file\n        path: ${JSON.stringify(path.join(archiveDir, 'replica'))}`;
  const yaml = [
    '# Written by migrate-guard archive; regenerated on every start.',
    'dbs:',
    `  - path: ${JSON.stringify(path.resolve(database))}`,
    '    replicas:',
    replica,
    `        sync-interval: ${settings.syncInterval}`,
    '',
  ].join('\n');
  const file = path.join(archiveDir, 'litestream.yml');
  await writeFileAtomic(file, yaml);
  return file;
}

/** Whether an archive has been written for this backup folder (a generation exists). */
export async function hasArchive(backupDir: string, settings: ArchiveSettings): Promise<boolean> {
  if (settings.replica) return true;
  try {
    return (await readdir(path.join(defaultArchiveDir(backupDir), 'replica', 'generations'))).length > 0;
  } catch {
    return false;
  }
}

/**
 * The newest replicated WAL segment of a file replica (its time is the archive's recovery point),
 * or null when there is none. Remote replicas are not inspected.
 */
export async function newestArchivedSegment(backupDir: string): Promise<Date | null> {
  const root = path.join(defaultArchiveDir(backupDir), 'replica', 'generations');
  let newest: Date | null = null;
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const info = await stat(path.join(entry.parentPath, entry.name));
    if (newest === null || info.mtime > newest) newest = info.mtime;
  }
  return newest;
}
