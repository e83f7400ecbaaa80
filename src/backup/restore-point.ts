import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import type { CheckResult } from '../checks/contract.ts';
import type { DatabaseFacts, Engine } from '../engines/contract.ts';
import type { ArchivedRestorePoint } from '../engines/restore-points.ts';
import { GuardError, messageOf } from '../errors.ts';
import { commitTemporary, temporaryPath, writeFileAtomic } from '../fs/atomic.ts';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../fs/file-mode.ts';
import { sha256File } from '../fs/hash.ts';
import { removeIfPresent } from '../fs/paths.ts';
import type { PendingBackup } from './create.ts';
import { recordJob } from './event-log.ts';
import { backupStem } from './identity.ts';
import type { BackupKind } from './kinds.ts';
import { manifestPathOf, writeManifest, type BackupManifest, type RestorePointRecord } from './manifest.ts';

/**
 * A restore-point backup's entry in the backup folder: `<stem>_<kind>_<stamp>.restore-point`, a
 * small JSON file naming the point (0600), with its manifest beside it as for any backup. The
 * data is in the server's WAL archive, not here: the file is what listings, retention, scrubs and
 * the identity rules work on unchanged (its checksum is the manifest's), and what a drill reads.
 */
export const RESTORE_POINT_EXTENSION = '.restore-point';

/** `pg_create_restore_point` takes names of at most 63 bytes. */
const MAX_POINT_NAME = 63;

/** `migrate-guard-<database>-<run stamp>`, the stamp the entry's file name has (`20261207_153000`, `…_2`). */
export function restorePointName(file: string, database: string): string {
  const stamp = /_(\d{8}_\d{6}(?:_\d+)?)\.restore-point$/.exec(path.basename(file))?.[1] ?? 'run';
  const room = MAX_POINT_NAME - 'migrate-guard--'.length - stamp.length;
  return `migrate-guard-${Buffer.from(database)
    .subarray(0, Math.max(room, 1))
    .toString()
    .replace(/\uFFFD+$/, '')}-${stamp}`;
}

export interface RestorePointBackupOptions {
  readonly engine: Pick<Engine, 'name' | 'identity' | 'restorePoints'>;
  readonly backupDir: string;
  readonly kind: BackupKind;
  /** The entry's path (`nextBackupPath` with RESTORE_POINT_EXTENSION): a journal records it. */
  readonly file: string;
  readonly archiveTimeoutMs: number;
  /** `backups.verifyCommand`, run once the segment is archived: null when none; throws when it fails. */
  readonly verify: ((point: ArchivedRestorePoint) => Promise<void>) | null;
  readonly verifyCommand: string | null;
  readonly signal?: AbortSignal | undefined;
  /** What happened, in a line each (the run's steps). */
  readonly onStep?: (message: string) => void;
}

/**
 * The pre-rollout backup of `backups.method: 'restore-point'`, in PendingBackup's shape so the
 * rollout drives it as any other: there is nothing to prove before the run's lock (`proven` at
 * once); `catchUp`, called by a group holding its transaction before the first change with the
 * facts it read there (the manifest's) and the commit mark read before them, creates the point,
 * switches the WAL file and waits for its segment to be archived, then runs the verify command; `finish` writes the entry and its manifest. A failure anywhere before
 * `finish` leaves nothing in the folder and refuses the run (the group rolls back).
 */
export function startRestorePointBackup(options: RestorePointBackupOptions): PendingBackup {
  const { engine, file } = options;
  const points = engine.restorePoints;
  if (!points) throw new GuardError('USAGE', `backups.method 'restore-point' needs PostgreSQL; ${engine.name} is not`);
  const startedAt = performance.now();
  const createdAt = new Date();
  const backupDir = path.resolve(options.backupDir);
  const temporary = temporaryPath(file);
  let taken: { readonly point: ArchivedRestorePoint; readonly facts: DatabaseFacts } | null = null;
  let discarded = false;
  const log = (error: string | null, bytes: number | null = null) =>
    recordJob(backupDir, 'backup', { kind: options.kind, file, bytes, startedAt, error, database: engine.name });
  const failed = async (error: unknown): Promise<never> => {
    await removeIfPresent(temporary).catch(() => undefined);
    if (!discarded) await log(messageOf(error)).catch(() => undefined);
    if (error instanceof GuardError) throw error;
    throw new GuardError('BACKUP_FAILED', `the restore point could not be taken: ${messageOf(error)}; nothing was changed`, {
      cause: error,
    });
  };
  let finishing: ReturnType<PendingBackup['finish']> | null = null;
  const finish = async () => {
    try {
      if (discarded) throw new GuardError('INTERRUPTED', 'the backup was discarded before it was put in place');
      if (taken === null) throw new Error('no restore point was taken (the run ended before its first change)');
      const { point, facts } = taken;
      const identity = await engine.identity();
      await makePrivateDir(path.dirname(file));
      const record: RestorePointRecord = { ...point, verifyCommand: options.verifyCommand };
      await writeFileAtomic(temporary, `${JSON.stringify({ restorePoint: record }, null, 2)}\n`, PRIVATE_FILE_MODE);
      const sha256 = await sha256File(temporary);
      const { size } = await stat(temporary);
      const fields: Omit<BackupManifest, 'format'> = {
        file: path.basename(file),
        source: engine.name,
        identity,
        kind: options.kind,
        createdAt: createdAt.toISOString(),
        bytes: size,
        sha256,
        compressed: false,
        compressedBytes: null,
        compressedSha256: null,
        ...facts,
        verified: true,
        verifiedAt: new Date().toISOString(),
        method: 'restore-point',
        restorePoint: record,
      };
      // As for a dump: the manifest first, the entry's rename last (a kill between leaves a
      // manifest alone, which prune clears).
      const manifest = await writeManifest(file, fields, temporary);
      try {
        await commitTemporary(temporary, file);
      } catch (error) {
        await removeIfPresent(manifestPathOf(file));
        throw error;
      }
      await log(null, size);
      return { file, manifest };
    } catch (error) {
      return failed(error);
    }
  };
  return {
    file,
    proven: Promise.resolve(),
    async catchUp(facts, mark) {
      try {
        if (mark === undefined) throw new Error('a restore point is taken inside a group, after its commit mark');
        const name = restorePointName(file, (await engine.identity()).database ?? backupStem(engine.name));
        const point = await points.create(name, mark);
        options.onStep?.(`restore point ${point.name} created at ${point.lsn} (segment ${point.segment}); waiting for it to be archived`);
        const archived = await points.awaitArchived(point, options.archiveTimeoutMs, options.signal);
        options.onStep?.(`segment ${archived.segment} archived (pg_stat_archiver: ${archived.archivedWal} at ${archived.archivedAt})`);
        if (options.verify) await options.verify(archived);
        taken = { point: archived, facts };
        return 0;
      } catch (error) {
        return failed(error);
      }
    },
    finish() {
      finishing ??= finish();
      return finishing;
    },
    async discard() {
      discarded = true;
      await finishing?.catch(() => undefined);
      await removeIfPresent(temporary).catch(() => undefined);
    },
  };
}

/**
 * `verify` of a restore point's entry (its checksum is checked before): the entry names the
 * manifest's point. The data is in the server's archive: that its segment was archived is what
 * the backup proved when it was taken; that the archive still holds it and restores it with the
 * data, only the archive tool's own verify and a `drill` show.
 */
export async function restorePointEntryCheck(file: string, recorded: RestorePointRecord): Promise<CheckResult> {
  const named = await readFile(file, 'utf8').then(
    (text) => (JSON.parse(text) as { restorePoint?: Partial<RestorePointRecord> }).restorePoint ?? null,
    () => null,
  );
  const same = named !== null && named.name === recorded.name && named.lsn === recorded.lsn && named.segment === recorded.segment;
  return {
    name: 'restore-point',
    ok: same,
    detail: same
      ? `${recorded.name} at ${recorded.lsn}, segment ${recorded.segment} archived at ${recorded.archivedAt}; the archive tool's verify and a drill prove it restores`
      : 'the entry does not name the restore point its manifest records',
  };
}
