import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { removeIfPresent } from './paths.ts';

/** fsync a file (or a directory, which makes a rename in it durable). */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const TEMPORARY = /^\.(.+)\.tmp-(\d+)$/;

/**
 * `.<name>.tmp-<pid>` beside the file it will become: hidden from listings, and the pid says which
 * run wrote it, so recovery removes only what a dead run left (see `temporaryOwner`).
 */
export function temporaryPath(file: string, pid: number = process.pid): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${pid}`);
}

/** The pid of the run that wrote a temporary file (its SQLite side files included), or null. */
export function temporaryOwner(name: string): number | null {
  const base = name.replace(/(-journal|-wal|-shm|\.gz)$/, '');
  const match = TEMPORARY.exec(base);
  return match ? Number(match[2]) : null;
}

/**
 * Writes to a temporary name, fsyncs, renames, then fsyncs the directory: a reader (or a power
 * cut) sees the old file or the new one, never half of one.
 */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temporary = temporaryPath(file);
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await removeIfPresent(temporary);
    throw error;
  }
  await handle.close();
  await commitTemporary(temporary, file);
}

/** The last step of every atomic write: the rename into place, made durable. */
export async function commitTemporary(temporary: string, file: string): Promise<void> {
  await rename(temporary, file);
  await fsyncPath(path.dirname(file));
}

/**
 * Streams text into `file` atomically: written under the temporary name with back-pressure
 * (memory stays flat), fsynced, renamed into place only when whole.
 */
export async function writeStreamAtomic(file: string, produce: (write: (text: string) => Promise<void>) => Promise<void>): Promise<void> {
  const temporary = temporaryPath(file);
  const stream = createWriteStream(temporary);
  const write = async (text: string) => {
    if (!stream.write(text)) await once(stream, 'drain');
  };
  try {
    await produce(write);
    stream.end();
    await once(stream, 'finish');
    await fsyncPath(temporary);
  } catch (error) {
    stream.destroy();
    await removeIfPresent(temporary);
    throw error;
  }
  await commitTemporary(temporary, file);
}
