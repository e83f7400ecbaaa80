import { fsyncPath } from '../../fs/atomic.ts';
import { createEmptyFile, fileModeFrom, PRIVATE_FILE_MODE, type FileMode } from '../../fs/file-mode.ts';
import { withPeriodicFlush } from '../../fs/periodic-flush.ts';
import { removeIfPresent } from '../../fs/paths.ts';
import type { Progress } from '../contract.ts';
import { SqliteConnection, withConnection } from './connection.ts';
import { onlineCopy } from './online-copy.ts';

/**
 * Copies a live database into `target` through the online backup API (a WAL source in one step,
 * other sources in steps), flushing as it goes, and leaves `target` a single self-contained file
 * on disk: a copy of a WAL database says "WAL" in its header, and opening it would then create
 * -wal and -shm files beside it. The copy gets the database's permission bits.
 */
export async function copyToSelfContainedFile(database: string, target: string, onProgress?: Progress): Promise<void> {
  const mode = await fileModeFrom(database);
  await withConnection(SqliteConnection.open(database, 'readonly'), (source) => copyFrom(source, target, onProgress, mode));
  await withConnection(SqliteConnection.open(target, 'readwrite'), (copy) => copy.exec('PRAGMA journal_mode = DELETE'));
  await fsyncPath(target);
}

/**
 * The online copy from an open connection, flushed every 100 ms (see withPeriodicFlush), into a
 * target created with `fileMode` first (default 0600: a scratch copy): SQLite copies into the existing file and keeps its mode
 * (its journal beside it gets the same), so the data is never in a file others can read.
 */
export async function copyFrom(
  source: SqliteConnection,
  target: string,
  onProgress?: Progress,
  fileMode: FileMode = PRIVATE_FILE_MODE,
): Promise<void> {
  const journal = await source.get<{ journal_mode: string }>('PRAGMA journal_mode');
  await createEmptyFile(target, fileMode);
  await withPeriodicFlush(target, 100, () =>
    onlineCopy(source.raw, target, 'to-file', { ...(onProgress ? { onProgress } : {}), oneStep: journal?.journal_mode === 'wal' }),
  );
}

/** Removes a copy and any journal, -wal or -shm SQLite left beside it; best effort. */
export async function removeCopy(file: string): Promise<void> {
  for (const leftover of [file, `${file}-journal`, `${file}-wal`, `${file}-shm`]) {
    await removeIfPresent(leftover).catch(() => undefined);
  }
}
