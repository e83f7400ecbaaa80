import type sqlite3 from 'sqlite3';
import type { Progress } from '../contract.ts';

/** node-sqlite3 ships no typings for its Backup class. */
interface SqliteBackup {
  step(pages: number, callback: (error: Error | null) => void): void;
  finish(callback?: (error: Error | null) => void): void;
  readonly remaining: number;
  readonly pageCount: number;
  readonly completed: boolean;
  readonly failed: boolean;
}

type BackupMethod = (
  filename: string,
  destName: string,
  sourceName: string,
  filenameIsDest: boolean,
  callback: (error: Error | null) => void,
) => SqliteBackup;

export type CopyDirection = 'to-file' | 'from-file';

/** Pages per step when stepping: 4 MiB at the default page size, a stall of milliseconds. */
const SLICE_PAGES = 1024;
/** After this many restarts (a writer that never pauses), the rest is copied in one step. */
const MAX_RESTARTS = 50;

export interface CopyOptions {
  readonly onProgress?: Progress;
  /**
   * Copy in one step. Right for a WAL source: the step holds only a read transaction, which does
   * not block WAL writers, and a copy in one step cannot be restarted by them. A rollback-journal
   * source must be stepped instead: its read lock blocks writers for as long as a step lasts.
   */
  readonly oneStep?: boolean;
  /**
   * Runs after the first step. Copying *into* a database, that step took its write lock, held
   * until the copy is done, and changed nothing yet: what the database holds can be read (and
   * kept) with no commit of anyone else's able to fall in between.
   */
  readonly afterFirstStep?: () => Promise<void>;
}

/**
 * SQLite's online backup API, in either direction: `to-file` copies the connection's database into
 * `file`; `from-file` copies `file` *into* the connection's database, through SQLite's own locking,
 * so an application holding the database open (WAL included) sees the old data or the new, never a
 * mix, and no stale -wal/-shm can outlive the restore.
 *
 * Stepped copies release the source between steps so writers get in; a write by another
 * connection restarts the copy from the first page (SQLite does that itself on the next step).
 */
export async function onlineCopy(
  connection: sqlite3.Database,
  file: string,
  direction: CopyDirection,
  options: CopyOptions = {},
): Promise<void> {
  const backupMethod = (connection as unknown as { backup: BackupMethod }).backup.bind(connection);
  const backup = await new Promise<SqliteBackup>((resolve, reject) => {
    const created: SqliteBackup = backupMethod(file, 'main', 'main', direction === 'to-file', (error) =>
      error ? reject(error) : resolve(created),
    );
  });
  const step = (pages: number) =>
    new Promise<void>((resolve, reject) => backup.step(pages, (error) => (error ? reject(error) : resolve())));
  const { onProgress } = options;
  let restarts = 0;
  try {
    await step(options.oneStep ? -1 : 1);
    await options.afterFirstStep?.();
    let lastRemaining = backup.remaining;
    while (!backup.completed) {
      onProgress?.(backup.pageCount - backup.remaining, backup.pageCount);
      await step(restarts >= MAX_RESTARTS ? -1 : SLICE_PAGES);
      if (backup.remaining > lastRemaining) restarts += 1;
      lastRemaining = backup.remaining;
      // Let the event loop (and a waiting writer) run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    onProgress?.(backup.pageCount, backup.pageCount);
  } catch (error) {
    // Callers say what the copy was for (a backup, a restore) in their own error.
    throw new Error(`online copy ${direction === 'to-file' ? 'to' : 'from'} ${file} failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await new Promise<void>((resolve) => backup.finish(() => resolve()));
  }
}
