import { mkdir, statfs } from 'node:fs/promises';
import { databaseBytes, SqliteConnection } from './db.ts';
import { GuardError } from './errors.ts';
import { formatBytes } from './units.ts';
import { integrityCheck } from './checks/integrity.ts';
import type { ChecksummedStorage } from './migrator/contract.ts';
import type { MigrationFile } from './migrator/migration-files.ts';

export interface PreflightOptions {
  readonly database: string;
  readonly backupDir: string;
  readonly freeSpaceFactor: number;
  /** Omitted when the project brings its own umzug storage, which records no checksums. */
  readonly storage?: ChecksummedStorage;
  readonly files?: readonly MigrationFile[];
}

/** Everything that must hold before a rollout touches anything; each failure refuses (exit 1). */
export async function preflight(options: PreflightOptions): Promise<void> {
  const connection = await SqliteConnection.open(options.database, 'readonly');
  try {
    const health = await integrityCheck(connection, 'quick');
    if (!health.ok) {
      throw new GuardError(
        'PREFLIGHT_FAILED',
        `database ${options.database} fails quick_check (${health.detail}); repair it or restore a backup before migrating`,
      );
    }
  } finally {
    await connection.close();
  }

  await mkdir(options.backupDir, { recursive: true }).catch((error: unknown) => {
    throw new GuardError('PREFLIGHT_FAILED', `backup folder ${options.backupDir} cannot be created: ${(error as Error).message}`, {
      cause: error,
    });
  });
  const size = await databaseBytes(options.database);
  const fs = await statfs(options.backupDir);
  const free = fs.bavail * fs.bsize;
  const needed = size * options.freeSpaceFactor;
  if (free < needed) {
    throw new GuardError(
      'PREFLIGHT_FAILED',
      `only ${formatBytes(free)} free in ${options.backupDir}; ${formatBytes(needed)} needed (${options.freeSpaceFactor}x the ${formatBytes(size)} database); free space or set --backup-dir`,
    );
  }

  if (options.storage && options.files) await assertAppliedUnchanged(options.storage, options.files);
}

/** Every applied migration still has its file, with the checksum it had when it ran. */
export async function assertAppliedUnchanged(storage: ChecksummedStorage, files: readonly MigrationFile[]): Promise<void> {
  const byName = new Map(files.map((file) => [file.name, file]));
  for (const applied of await storage.applied()) {
    const file = byName.get(applied.name);
    if (!file) {
      throw new GuardError(
        'MIGRATION_CHANGED',
        `applied migration ${applied.name} has no file in the migrations folder; restore the file before migrating`,
      );
    }
    if (applied.checksum !== null && applied.checksum !== file.checksum) {
      throw new GuardError(
        'MIGRATION_CHANGED',
        `applied migration ${applied.name} was edited after it ran (checksum differs); restore the original and put the change in a new migration`,
      );
    }
  }
}
