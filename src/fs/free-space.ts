import { statfs } from 'node:fs/promises';
import { formatBytes } from '../units.ts';

/** Bytes an unprivileged process may still write in the folder's file system. */
export async function freeBytes(folder: string): Promise<number> {
  const fs = await statfs(folder);
  return fs.bavail * fs.bsize;
}

export interface FreeSpaceVerdict {
  readonly free: number;
  readonly needed: number;
  /** Null when there is room; otherwise the one line that says what to do. */
  readonly problem: string | null;
}

/**
 * Room for the next backup: `factor` times the database's size, free in the backup folder. The
 * preflight refuses on it and `health` alerts on it, with the same words.
 */
export async function checkFreeSpace(folder: string, databaseBytes: number, factor: number): Promise<FreeSpaceVerdict> {
  const free = await freeBytes(folder);
  const needed = databaseBytes * factor;
  const problem =
    free < needed
      ? `only ${formatBytes(free)} free in ${folder}; ${formatBytes(needed)} needed (${factor}x the ${formatBytes(databaseBytes)} database)`
      : null;
  return { free, needed, problem };
}
