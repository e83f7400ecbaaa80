import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GuardError, messageOf } from '../errors.ts';
import { temporaryOwner } from '../fs/atomic.ts';
import { pathExists } from '../fs/paths.ts';
import { isProcessRunning } from '../fs/process.ts';
import { BACKUP_KINDS, type BackupKind } from './kinds.ts';
import { belongsTo, namedFor, type BackupOwner } from './identity.ts';
import { readManifest, type BackupManifest } from './manifest.ts';

/** One backup as `backups` lists it. */
export interface BackupEntry {
  readonly path: string;
  readonly kind: BackupKind;
  readonly createdAt: string;
  /** Bytes on disk (the .gz size for a compressed backup). */
  readonly bytes: number;
  readonly compressed: boolean;
  readonly sha256: string | null;
  /** False for a backup that failed its last scrub (`verify --all`), as for one without a manifest. */
  readonly verified: boolean;
  /** When `verify --all` last re-read it (null: never), and why that failed (null: it matched). */
  readonly scrubbedAt: string | null;
  readonly scrubError: string | null;
  /** The database it was taken from (the manifest's `source`); null without a readable manifest. */
  readonly source: string | null;
  /** null for a file in a kind folder without a usable manifest: not a usable backup. */
  readonly manifest: BackupManifest | null;
  /** Why it is not a usable backup (not a regular file, its manifest unreadable, invalid or dated in the future); null when it is. */
  readonly problem: string | null;
}

export interface ListOptions {
  /** Only this database's backups (see belongsTo); all of them without. */
  readonly owner?: BackupOwner | null;
  /** What "in the future" is measured from for a manifest's `createdAt`. */
  readonly now?: Date;
}

/** A SQLite backup (`.db`), a PostgreSQL dump (`.dump`) or a MySQL/MariaDB dump (`.sql`), gzipped or not; temporary files are hidden. */
const isBackupFile = (name: string) => !name.startsWith('.') && /\.(db|dump|sql)(\.gz)?$/.test(name);

/**
 * Every backup under the backup folder's kind folders, newest first; with `owner`, only that
 * database's. A file that is not a regular file (a FIFO, a link, a device) is listed, never read:
 * it is no backup.
 */
export async function listBackups(backupDir: string, options: ListOptions = {}): Promise<BackupEntry[]> {
  const entries: BackupEntry[] = [];
  const owner = options.owner ?? null;
  for (const kind of BACKUP_KINDS) {
    const folder = path.join(backupDir, kind);
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      continue;
    }
    for (const name of names.filter(isBackupFile)) {
      const file = path.join(folder, name);
      const info = await lstat(file).catch(() => null);
      if (info === null) continue;
      const { manifest, problem } = info.isFile()
        ? await readManifest(file, options.now).then(
            (read) => ({ manifest: read, problem: null }),
            (error: unknown) => ({ manifest: null, problem: messageOf(error) }),
          )
        : { manifest: null, problem: 'not a regular file (a FIFO, a link or a device): not a backup' };
      if (owner !== null && !(manifest ? belongsTo(manifest, owner) : namedFor(file, owner))) continue;
      entries.push({
        path: file,
        kind: manifest?.kind ?? kind,
        createdAt: manifest?.createdAt ?? info.mtime.toISOString(),
        bytes: info.size,
        compressed: manifest?.compressed ?? name.endsWith('.gz'),
        sha256: manifest?.sha256 ?? null,
        verified: manifest?.verified === true,
        scrubbedAt: manifest?.scrubbedAt ?? null,
        scrubError: manifest?.scrubError ?? null,
        source: manifest?.source ?? null,
        manifest,
        problem,
      });
    }
  }
  return entries.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.path.localeCompare(a.path));
}

/** A backup named on the command line: a path, or a file name found in the backup folder. */
export async function resolveBackupArgument(argument: string, backupDir: string, cwd: string): Promise<string> {
  const direct = path.resolve(cwd, argument);
  if (await pathExists(direct)) return direct;
  const match = (await listBackups(backupDir)).find((entry) => path.basename(entry.path) === argument);
  if (match) return match.path;
  throw new GuardError(
    'USAGE',
    `no backup ${argument} (neither a file nor a name in ${backupDir}); run migrate-guard backups to list them`,
  );
}

/** A leftover this young may still be in use: a proof can leave its file untouched for minutes. */
const LEFTOVER_MIN_AGE_MS = 10 * 60_000;

/**
 * What killed writers left in the backup folder and its kind folders: temporary files (`.<name>.tmp-<pid>`, hidden from
 * every listing) whose writer no longer runs, and manifests with no backup beside them (a kill
 * between the manifest and the backup's rename). Only older than ten minutes: a backup folder on
 * a disk that other hosts share may hold another host's temporary file, whose pid means nothing here.
 */
export async function findLeftovers(backupDir: string, now: Date = new Date()): Promise<string[]> {
  const leftovers: string[] = [];
  // The folder itself too: a server's run files (its journal, a restore's pre-restore dump) are
  // written there under temporary names, and a killed run leaves them half-written.
  for (const folder of [backupDir, ...BACKUP_KINDS.map((kind) => path.join(backupDir, kind))]) {
    const inKindFolder = folder !== backupDir;
    const names = await readdir(folder).catch((): string[] => []);
    for (const name of names) {
      const owner = temporaryOwner(name);
      const orphanManifest = inKindFolder && name.endsWith('.manifest.json') && !names.includes(name.slice(0, -'.manifest.json'.length));
      if ((owner === null || isProcessRunning(owner)) && !orphanManifest) continue;
      const file = path.join(folder, name);
      const modified = await stat(file).then(
        (info) => info.mtimeMs,
        () => null,
      );
      if (modified !== null && now.getTime() - modified >= LEFTOVER_MIN_AGE_MS) leftovers.push(file);
    }
  }
  return leftovers;
}
