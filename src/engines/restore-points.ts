import type { Reader, ScratchDatabase } from './contract.ts';

/**
 * A named restore point in the server's own WAL archive (PostgreSQL's `pg_create_restore_point`):
 * what `backups.method: 'restore-point'` records instead of a copy of the data. The archive tool
 * (pgBackRest, WAL-G, Barman) restores the cluster to it; migrate-guard proves from the
 * application host only that the WAL segment holding it reached the archive.
 */
export interface RestorePoint {
  /** `migrate-guard-<database>-<run stamp>`: what `recovery_target_name` / pgBackRest's `--target` take. */
  readonly name: string;
  /** The point's LSN, as `pg_create_restore_point` returned it (`0/3000090`). */
  readonly lsn: string;
  /** The timeline the point was written on (the segment's first 8 hex digits). */
  readonly timeline: number;
  /** The WAL segment file holding the point (`pg_walfile_name`). */
  readonly segment: string;
  /**
   * `pg_current_snapshot()` read on the migrations' connection before the facts the manifest
   * records, just before the point: a restored copy tells transactions committed between the two
   * apart (row counts may then differ).
   */
  readonly snapshot: string;
  readonly createdAt: string;
}

/** The point once its segment is archived: when `pg_stat_archiver` showed it, and the file it showed. */
export interface ArchivedRestorePoint extends RestorePoint {
  readonly archivedAt: string;
  readonly archivedWal: string;
}

/** A restore point brought up in a scratch data directory on a spare port (a drill). */
export interface RestoredPoint extends ScratchDatabase {
  /** Whether a transaction committed between the facts' snapshot and the point, as the restored copy sees it. */
  committedBetween(reader: Reader): Promise<boolean>;
}

/** An engine's restore points (PostgreSQL): through SQL only, except `restore`, which runs where the archive tool is. */
export interface RestorePoints {
  /**
   * Refuses (PREFLIGHT_FAILED, naming the check and the fix) unless `archive_mode` is on, the
   * archiver's last success has no failure after it, and the role may create a restore point and
   * switch the WAL file. Reads only.
   */
  preflight(): Promise<void>;
  /**
   * The point named `name`, then a WAL switch so its segment is archived now. `snapshot` is the
   * commit mark (`Engine.commitMark`) read before the facts the manifest records were read.
   */
  create(name: string, snapshot: string): Promise<RestorePoint>;
  /** Waits until the archiver has archived the point's segment; past `timeoutMs` (or on abort), throws BACKUP_FAILED. */
  awaitArchived(point: RestorePoint, timeoutMs: number, signal?: AbortSignal): Promise<ArchivedRestorePoint>;
  /**
   * Restores `point` with `command` (`{point}`, `{dataDir}` filled in) into a data directory under
   * `folder`, starts it on a spare port as the server's user, waits until it is promoted: the
   * drill's copy. `drop` stops it and removes the directory.
   */
  restore(point: RestorePoint, command: string, folder: string): Promise<RestoredPoint>;
}
