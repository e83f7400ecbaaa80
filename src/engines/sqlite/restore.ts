import { GuardError, messageOf } from '../../errors.ts';
import { fsyncPath } from '../../fs/atomic.ts';
import { fileModeFrom } from '../../fs/file-mode.ts';
import type { Progress, RestoreSteps } from '../contract.ts';
import { SqliteConnection, withConnection } from './connection.ts';
import { onlineCopy } from './online-copy.ts';
import { copyFrom, copyToSelfContainedFile } from './self-contained-copy.ts';

/**
 * Restores `snapshot` into the live database through the online backup API, holding the write
 * lock from before the pre-restore copy until the proof has read the result, so no commit of an
 * application that keeps writing falls between the copy kept and the restore (it would be in
 * neither), and none is mistaken by the proof for a bad restore. How depends on the journal:
 *
 * - WAL: the copy's first step takes the write lock (readers go on, in WAL), the pre-restore copy
 *   is read beside it, then the rest is copied. The proof reads in this connection right after;
 *   `PRAGMA data_version` (which this connection's own copy does not move) says whether the
 *   application committed on top of the restore before that read.
 * - rollback journal: `locking_mode = EXCLUSIVE` keeps the lock this connection takes until it is
 *   switched back, across the copy kept, the restore and the proof (a rollback-journal restore
 *   locks readers out anyway while it copies); every copy goes through this connection.
 */
export async function restoreInto<T>(database: string, snapshot: string, steps: RestoreSteps<T>): Promise<T> {
  // Until the copy starts not a page is written: a failure there (a full disk can refuse even the
  // open, a WAL database's -shm) is a refusal, whatever can or cannot be read back afterwards.
  const beforeAnyChange = async <R>(work: () => Promise<R>): Promise<R> => {
    try {
      return await work();
    } catch (error) {
      throw new GuardError('RESTORE_FAILED', `could not start restoring into ${database}: ${messageOf(error)}; nothing was changed`, {
        cause: error,
      });
    }
  };
  const opened = await beforeAnyChange(() => SqliteConnection.open(database, 'create'));
  return withConnection(Promise.resolve(opened), async (live) => {
    // The application may be mid-transaction; wait for it rather than fail the restore.
    live.setBusyTimeout(60_000);
    const journal = await beforeAnyChange(() => live.get<{ journal_mode: string }>('PRAGMA journal_mode'));
    const progress = steps.onProgress ? { onProgress: steps.onProgress } : {};
    if (journal?.journal_mode === 'wal') {
      const versionBefore = await beforeAnyChange(() => dataVersion(live));
      const keep = steps.beforeChange;
      await onlineCopy(live.raw, snapshot, 'from-file', {
        ...progress,
        ...(keep ? { afterFirstStep: () => keep((target, onProgress) => copyToSelfContainedFile(database, target, onProgress)) } : {}),
      });
      await live.exec('BEGIN');
      try {
        await live.all('SELECT COUNT(*) FROM sqlite_master'); // the proof's read snapshot starts here
        return await steps.prove(live, (await dataVersion(live)) !== versionBefore);
      } finally {
        await live.exec('COMMIT').catch(() => undefined);
      }
    }
    try {
      // The write lock is taken in NORMAL mode, where BEGIN IMMEDIATE waits for an application's
      // transaction to end (in EXCLUSIVE mode a reader's lock held while waiting could deadlock a
      // committing writer); switched to EXCLUSIVE inside it, the COMMIT keeps the lock.
      await beforeAnyChange(() => live.exec('BEGIN IMMEDIATE; PRAGMA locking_mode = EXCLUSIVE; COMMIT'));
      const mode = await fileModeFrom(database);
      await steps.beforeChange?.(async (target: string, onProgress?: Progress) => {
        await copyFrom(live, target, onProgress, mode);
        await withConnection(SqliteConnection.open(target, 'readwrite'), (copy) => copy.exec('PRAGMA journal_mode = DELETE'));
        await fsyncPath(target);
      });
      await onlineCopy(live.raw, snapshot, 'from-file', progress);
      return await steps.prove(live, false);
    } finally {
      // The lock goes with the next access after the switch back.
      await live.exec('PRAGMA locking_mode = NORMAL').catch(() => undefined);
      await live.all('SELECT COUNT(*) FROM sqlite_master').catch(() => undefined);
    }
  });
}

async function dataVersion(connection: SqliteConnection): Promise<number> {
  const row = await connection.get<{ data_version: number }>('PRAGMA data_version');
  return row?.data_version ?? 0;
}
