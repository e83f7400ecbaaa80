import path from 'node:path';
import { listBackups } from '../backup/store.ts';
import type { BackupEntry } from '../backup/store.ts';

export interface BackupsReport {
  readonly command: 'backups';
  readonly ok: true;
  readonly exitCode: 0;
  readonly backups: readonly Omit<BackupEntry, 'manifest'>[];
}

/** Every backup, newest first. */
export async function runBackups(options: { readonly backupDir: string }): Promise<BackupsReport> {
  const entries = await listBackups(path.resolve(options.backupDir));
  return {
    command: 'backups',
    ok: true,
    exitCode: 0,
    backups: entries.map(({ path: file, kind, createdAt, bytes, compressed, sha256, verified, scrubbedAt, scrubError }) => ({
      path: file,
      kind,
      createdAt,
      bytes,
      compressed,
      sha256,
      verified,
      scrubbedAt,
      scrubError,
    })),
  };
}
