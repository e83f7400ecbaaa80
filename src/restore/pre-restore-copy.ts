import { rename } from 'node:fs/promises';
import path from 'node:path';
import { withPeriodicFlush } from '../backup/flusher.ts';
import { onlineCopy, type PageProgress } from '../backup/online-copy.ts';
import { SqliteConnection } from '../db.ts';
import { fsyncPath, pathExists, removeIfPresent } from '../files.ts';

/**
 * Keeps what the database holds now as `<db>.pre-restore.<YYYYMMDD_HHMMSS>` before a restore
 * overwrites it, through the online backup API so committed WAL content is included. It is not
 * verified on purpose: the database being replaced may be the broken one, and a copy of a broken
 * database is still the evidence (and the data) someone will want back.
 */
export async function keepPreRestoreCopy(database: string, onProgress?: PageProgress): Promise<string> {
  const iso = new Date().toISOString();
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}_${iso.slice(11, 19).replaceAll(':', '')}`;
  let target = `${database}.pre-restore.${stamp}`;
  for (let n = 2; await pathExists(target); n += 1) target = `${database}.pre-restore.${stamp}_${n}`;
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
  try {
    const source = await SqliteConnection.open(database, 'readonly');
    try {
      const mode = await source.get<{ journal_mode: string }>('PRAGMA journal_mode');
      await withPeriodicFlush(temporary, 100, () =>
        onlineCopy(source.raw, temporary, 'to-file', { ...(onProgress ? { onProgress } : {}), oneStep: mode?.journal_mode === 'wal' }),
      );
    } finally {
      await source.close();
    }
    const copy = await SqliteConnection.open(temporary, 'readwrite');
    try {
      await copy.exec('PRAGMA journal_mode = DELETE');
    } finally {
      await copy.close();
    }
    await fsyncPath(temporary);
    await rename(temporary, target);
    await fsyncPath(path.dirname(target));
    return target;
  } catch (error) {
    for (const leftover of [temporary, `${temporary}-journal`, `${temporary}-wal`, `${temporary}-shm`]) {
      await removeIfPresent(leftover).catch(() => undefined);
    }
    throw error;
  }
}
