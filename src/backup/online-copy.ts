import type sqlite3 from 'sqlite3';

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
export type PageProgress = (done: number, total: number) => void;

/** How often a copy may restart because another connection wrote to the source. */
const MAX_RESTARTS = 3;

/**
 * SQLite's online backup API, in either direction: `to-file` copies the connection's database into
 * `file`; `from-file` copies `file` *into* the connection's database, through SQLite's own locking,
 * so an application holding the database open (WAL included) sees the old data or the new, never a
 * mix, and no stale -wal/-shm can outlive the restore.
 *
 * It steps in slices for the progress bar. A write from another connection restarts a sliced copy;
 * after a few restarts the rest is copied in one step, which holds a read lock (in WAL mode writers
 * carry on) instead of chasing a busy application forever.
 */
export async function onlineCopy(
  connection: sqlite3.Database,
  file: string,
  direction: CopyDirection,
  onProgress?: PageProgress,
): Promise<void> {
  const backupMethod = (connection as unknown as { backup: BackupMethod }).backup.bind(connection);
  const backup = await new Promise<SqliteBackup>((resolve, reject) => {
    const created: SqliteBackup = backupMethod(file, 'main', 'main', direction === 'to-file', (error) =>
      error ? reject(error) : resolve(created),
    );
  });
  const step = (pages: number) =>
    new Promise<void>((resolve, reject) => backup.step(pages, (error) => (error ? reject(error) : resolve())));
  try {
    await step(onProgress ? 1 : -1);
    let restarts = 0;
    let lastRemaining = backup.remaining;
    while (!backup.completed) {
      const slice = restarts >= MAX_RESTARTS ? -1 : Math.max(1024, Math.ceil(backup.pageCount / 50));
      onProgress?.(backup.pageCount - backup.remaining, backup.pageCount);
      await step(slice);
      if (backup.remaining > lastRemaining) restarts += 1;
      lastRemaining = backup.remaining;
    }
    onProgress?.(backup.pageCount, backup.pageCount);
  } catch (error) {
    // Callers say what the copy was for (a backup, a restore) in their own error.
    throw new Error(`online copy ${direction === 'to-file' ? 'to' : 'from'} ${file} failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await new Promise<void>((resolve) => backup.finish(() => resolve()));
  }
}
