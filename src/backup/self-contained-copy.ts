import { SqliteConnection } from '../db.ts';
import { fsyncPath, removeIfPresent } from '../files.ts';
import { withPeriodicFlush } from './flusher.ts';
import { onlineCopy, type PageProgress } from './online-copy.ts';

/**
 * Copies a live database into `target` through the online backup API (a WAL source in one step,
 * other sources in steps), flushing as it goes, and leaves `target` a single self-contained file
 * on disk: a copy of a WAL database says "WAL" in its header, and opening it would then create
 * -wal and -shm files beside it.
 */
export async function copyToSelfContainedFile(database: string, target: string, onProgress?: PageProgress): Promise<void> {
  const source = await SqliteConnection.open(database, 'readonly');
  try {
    const mode = await source.get<{ journal_mode: string }>('PRAGMA journal_mode');
    await withPeriodicFlush(target, 100, () =>
      onlineCopy(source.raw, target, 'to-file', { ...(onProgress ? { onProgress } : {}), oneStep: mode?.journal_mode === 'wal' }),
    );
  } finally {
    await source.close();
  }
  const copy = await SqliteConnection.open(target, 'readwrite');
  try {
    await copy.exec('PRAGMA journal_mode = DELETE');
  } finally {
    await copy.close();
  }
  await fsyncPath(target);
}

/** Removes a temporary copy and any journal, -wal or -shm SQLite left beside it; best effort. */
export async function removeTemporaryCopy(temporary: string): Promise<void> {
  for (const leftover of [temporary, `${temporary}-journal`, `${temporary}-wal`, `${temporary}-shm`]) {
    await removeIfPresent(leftover).catch(() => undefined);
  }
}
