import path from 'node:path';
import { backupOwner } from '../backup/identity.ts';
import { listBackups } from '../backup/store.ts';
import type { BackupEntry } from '../backup/store.ts';
import { engineFor } from '../engines/select.ts';

export interface BackupsReport {
  readonly command: 'backups';
  readonly ok: true;
  readonly exitCode: 0;
  /** The database whose backups these are. */
  readonly database: string;
  readonly backups: readonly Omit<BackupEntry, 'manifest' | 'problem'>[];
  /** Backups in the folder that belong to other databases (a shared folder): not listed. */
  readonly otherDatabases: number;
}

/** This database's backups, newest first; a folder's backups of other databases are counted, not listed. */
export async function runBackups(options: { readonly backupDir: string; readonly database: string }): Promise<BackupsReport> {
  const backupDir = path.resolve(options.backupDir);
  const engine = await engineFor(options.database, { stateDir: backupDir });
  const owner = await backupOwner(engine);
  const entries = await listBackups(backupDir, { owner });
  const all = await listBackups(backupDir);
  return {
    command: 'backups',
    ok: true,
    exitCode: 0,
    database: engine.name,
    backups: entries.map(({ path: file, kind, createdAt, bytes, compressed, sha256, verified, scrubbedAt, scrubError, source }) => ({
      path: file,
      kind,
      createdAt,
      bytes,
      compressed,
      sha256,
      verified,
      scrubbedAt,
      scrubError,
      source,
    })),
    otherDatabases: all.length - entries.length,
  };
}
