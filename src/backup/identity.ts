import path from 'node:path';
import type { DatabaseIdentity, Engine, EngineKind } from '../engines/contract.ts';
import { GuardError } from '../errors.ts';
import type { EventListener } from '../events.ts';
import { readManifest, type BackupManifest } from './manifest.ts';

/** The database whose backups a command looks for, as the manifests record it. */
export interface BackupOwner {
  readonly kind: EngineKind;
  /** `Engine.name`: what manifests written before identities were recorded kept as `source`. */
  readonly name: string;
  readonly identity: DatabaseIdentity;
  /** The start of the file names `nextBackupPath` gives its backups (`app` for `app_daily_…`). */
  readonly stem: string;
}

export async function backupOwner(engine: Pick<Engine, 'kind' | 'name' | 'identity'>): Promise<BackupOwner> {
  return { kind: engine.kind, name: engine.name, identity: await engine.identity(), stem: backupStem(engine.name) };
}

/** The database's own name, for its backups' file names: a file's without its extension, a URL's last path segment. */
export function backupStem(name: string): string {
  return path.basename(name.replace(/[?#].*$/, '')).replace(/\.(db|sqlite3?)$/i, '');
}

/**
 * Whether a backup was taken from this database: by the identity its manifest records (SQLite: the
 * same real path; PostgreSQL: the same cluster and database name), else, for a manifest written
 * before identities were recorded, by its `source`. The name a database is reached by is not
 * enough: two folders' `database.db`, or two servers' `app`, are different databases.
 */
export function belongsTo(manifest: Pick<BackupManifest, 'engine' | 'source' | 'identity'>, owner: BackupOwner): boolean {
  if (manifest.engine !== owner.kind) return false;
  const recorded = manifest.identity;
  if (recorded?.path != null) return recorded.path === owner.identity.path;
  if (recorded?.systemIdentifier != null) {
    return recorded.systemIdentifier === owner.identity.systemIdentifier && recorded.database === owner.identity.database;
  }
  return manifest.source === owner.name || (owner.identity.path !== null && manifest.source === owner.identity.path);
}

/**
 * For a file without a usable manifest: whether its name is one `nextBackupPath` gives this
 * database's backups (`<stem>_<kind>_<YYYYMMDD_HHMMSS>[_n].<ext>[.gz]`). Nothing else says whose it is.
 */
export function namedFor(file: string, owner: BackupOwner): boolean {
  const stem = owner.stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${stem}_[a-z-]+_\\d{8}_\\d{6}(_\\d+)?\\.((db|dump)(\\.gz)?|restore-point)$`).test(path.basename(file));
}

/** The database a backup was taken from, as a message names it. */
export function sourceOf(manifest: Pick<BackupManifest, 'source' | 'identity'>): string {
  const identity = manifest.identity;
  if (identity?.path != null && identity.path !== manifest.source) return `${manifest.source} (${identity.path})`;
  if (identity?.systemIdentifier != null) return `${manifest.source} (cluster ${identity.systemIdentifier}, database ${identity.database})`;
  return manifest.source;
}

/**
 * Refuses (exit 1, nothing read further) a backup whose manifest says it was taken from another
 * database, unless that is asked for; a backup without a manifest says nothing either way.
 */
export async function refuseOtherDatabase(file: string, owner: BackupOwner, allowed: boolean, emit: EventListener): Promise<void> {
  const manifest = await readManifest(file).catch(() => null);
  if (manifest === null || belongsTo(manifest, owner)) return;
  if (!allowed) {
    throw new GuardError(
      'BACKUP_INVALID',
      `${file} is a backup of ${sourceOf(manifest)}, not of ${owner.name}; nothing was changed (to put another database's data into this one, add --from-other-database)`,
    );
  }
  emit({
    type: 'warning',
    message: `${file} is a backup of ${sourceOf(manifest)}, not of ${owner.name}: using it as --from-other-database asks`,
  });
}
