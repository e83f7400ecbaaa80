import path from 'node:path';
import { createBackup } from '../backup/create.ts';
import type { BackupKind } from '../backup/kinds.ts';
import type { EngineLabels } from '../engines/contract.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import type { Progress, EngineKind } from '../engines/contract.ts';
import { requireDatabase } from '../engines/require-database.ts';
import { engineFor } from '../engines/select.ts';
import { waitsOf, type EventListener } from '../events.ts';
import { recordedMigrations } from '../history/select.ts';

export interface BackupOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  readonly kind?: BackupKind;
  /** Overrides the config's per-kind default. */
  readonly compress?: boolean;
  readonly onProgress?: Progress;
  /** Says when the copy is done and its proof starts, in the engine's words. */
  readonly onVerify?: (labels: EngineLabels) => void;
  /** Events of the wait for a busy database (the rest is told through onProgress and onVerify). */
  readonly onEvent?: EventListener;
}

export interface BackupReport {
  readonly command: 'backup';
  readonly ok: true;
  readonly exitCode: 0;
  readonly backup: {
    readonly path: string;
    readonly kind: BackupKind;
    readonly createdAt: string;
    readonly bytes: number;
    readonly sha256: string;
    readonly verified: true;
    readonly compressed: boolean;
    readonly compressedBytes: number | null;
  };
  readonly durationMs: number;
}

/**
 * A verified backup of any kind: the same create-and-verify code the pre-rollout backup uses.
 * A failed verification throws BACKUP_UNVERIFIED (exit 4) after deleting the bad file.
 */
export async function runBackup(options: BackupOptions): Promise<BackupReport> {
  const started = performance.now();
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  await requireDatabase(engine);
  await engine.settle({ write: true, ...(options.onEvent ? { onWait: waitsOf(options.onEvent) } : {}) });
  const kind = options.kind ?? 'manual';
  const compressByDefault: Partial<Record<BackupKind, boolean>> = options.config.backups.compress;
  const { file, manifest } = await createBackup({
    engine,
    applied: recordedMigrations(engine),
    backupDir: path.resolve(options.backupDir),
    kind,
    compress: options.compress ?? compressByDefault[kind] ?? false,
    gzipLevel: options.config.backups.gzipLevel,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onVerify ? { onVerify: options.onVerify } : {}),
  });
  return {
    command: 'backup',
    ok: true,
    exitCode: 0,
    backup: {
      path: file,
      kind,
      createdAt: manifest.createdAt,
      bytes: manifest.bytes,
      sha256: manifest.sha256,
      verified: true,
      compressed: manifest.compressed,
      compressedBytes: manifest.compressedBytes,
    },
    durationMs: Math.round(performance.now() - started),
  };
}
