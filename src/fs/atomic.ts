import { randomBytes } from 'node:crypto';
import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { openWithMode, PRIVATE_FILE_MODE, type FileMode } from './file-mode.ts';
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

/** `.<name>.tmp-<pid>-<random>`; before the random part was added: `.<name>.tmp-<pid>`. */
const TEMPORARY = /^\.(.+)\.tmp-(\d+)(?:-[0-9a-f]{16})?$/;

/**
 * `.<name>.tmp-<pid>-<random>` beside the file it will become: hidden from listings, and the pid
 * says which run wrote it, so recovery removes only what a dead run left (see `temporaryOwner`).
 * The random part makes the name unguessable: a link planted in advance at a predictable name
 * (pids are) is never the one we create, and the create is exclusive anyway (see file-mode.ts).
 */
export function temporaryPath(file: string, pid: number = process.pid): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${pid}-${randomBytes(8).toString('hex')}`);
}

/** The pid of the run that wrote a temporary file (its SQLite side files included), or null. */
export function temporaryOwner(name: string): number | null {
  const base = name.replace(/(-journal|-wal|-shm|\.gz)$/, '');
  const match = TEMPORARY.exec(base);
  return match ? Number(match[2]) : null;
}

/**
 * Writes to a temporary name, fsyncs, renames, then fsyncs the directory: a reader (or a power
 * cut) sees the old file or the new one, never half of one. The file gets `mode` (default 0600),
 * from the moment the temporary file exists.
 */
export function writeFileAtomic(file: string, data: string, mode: FileMode = PRIVATE_FILE_MODE): Promise<void> {
  return writeStreamAtomic(file, (write) => write(data), mode);
}

/** The last step of every atomic write: the rename into place, made durable. */
export async function commitTemporary(temporary: string, file: string): Promise<void> {
  await rename(temporary, file);
  await fsyncPath(path.dirname(file));
}

/** Writes are gathered up to this size: one system call per MiB, memory flat. */
const WRITE_BATCH = 1 << 20;

/**
 * Writes text into `file` atomically: under the temporary name, in batches (memory stays flat
 * however much is produced), fsynced, renamed into place only when whole. Whatever fails (the
 * producer, a full disk, the rename), the temporary file is gone and the error is the first one.
 * The file has `mode` from its creation (see file-mode.ts).
 */
export async function writeStreamAtomic(
  file: string,
  produce: (write: (text: string) => Promise<void>) => Promise<void>,
  mode: FileMode = PRIVATE_FILE_MODE,
): Promise<void> {
  const temporary = temporaryPath(file);
  let handle: FileHandle | null = null;
  try {
    handle = await openWithMode(temporary, 'wx', mode);
    const target = handle;
    let pending: string[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const text = pending.join('');
      pending = [];
      pendingBytes = 0;
      await target.write(text);
    };
    await produce(async (text) => {
      pending.push(text);
      pendingBytes += text.length;
      if (pendingBytes >= WRITE_BATCH) await flush();
    });
    await flush();
    await handle.sync();
    await handle.close();
    handle = null;
    await commitTemporary(temporary, file);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await removeIfPresent(temporary).catch(() => undefined);
    throw error;
  }
}
