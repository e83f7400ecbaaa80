import path from 'node:path';
import { listBackups } from '../backup/store.ts';
import type { BackupKind } from '../backup/manifest.ts';

export interface BackupsReport {
  readonly command: 'backups';
  readonly ok: true;
  readonly exitCode: 0;
  readonly backups: readonly {
    readonly path: string;
    readonly kind: BackupKind;
    readonly createdAt: string;
    readonly bytes: number;
    readonly compressed: boolean;
    readonly sha256: string | null;
    readonly verified: boolean;
  }[];
}

/** Every backup, newest first. */
export async function runBackups(options: { readonly backupDir: string }): Promise<BackupsReport> {
  const entries = await listBackups(path.resolve(options.backupDir));
  return {
    command: 'backups',
    ok: true,
    exitCode: 0,
    backups: entries.map(({ path: file, kind, createdAt, bytes, compressed, sha256, verified }) => ({
      path: file,
      kind,
      createdAt,
      bytes,
      compressed,
      sha256,
      verified,
    })),
  };
}
