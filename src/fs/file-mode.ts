import { constants } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';

/**
 * Who may read what we write. A file that holds a database's data or its shape (a backup, its
 * manifest, a pre-restore copy, an export, a scratch copy) gets the permission bits of the file it
 * was made from, and so, down the chain, of the database: a 0600 database never gets 0644 backups.
 * Our own bookkeeping (run journal, lock files, event log, generated configs) is 0600, folders we
 * create for any of it 0700. Modes are set with fchmod after open, so the result does not depend
 * on the umask: a 0640 database (the operator let a group read it) gives 0640 backups, never 0644.
 */
export type FileMode = number;

/** Bookkeeping, and what a copy of a database that does not exist yet gets. */
export const PRIVATE_FILE_MODE: FileMode = 0o600;
export const PRIVATE_DIR_MODE: FileMode = 0o700;

/**
 * The mode for a file made from `source`: its read/write bits, never execute or set-id bits, and
 * always owner read/write (we must be able to write and later remove what we create). 0600 when
 * the source does not exist (a database before its first run, or a URL that is not a file).
 */
export async function fileModeFrom(source: string): Promise<FileMode> {
  try {
    return ((await stat(source)).mode & 0o666) | 0o600;
  } catch {
    return PRIVATE_FILE_MODE;
  }
}

/**
 * How each kind of open is done: never through a symlink (O_NOFOLLOW), so a link planted in a
 * folder others can write cannot point our write at a file of theirs or of root's. `wx` creates
 * a new file or fails (O_EXCL: not even a dangling link is followed); `a` appends to an existing
 * regular file of ours (O_NONBLOCK: a FIFO planted there fails instead of hanging the run).
 */
const OPEN_FLAGS = {
  wx: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
  a: constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK,
} as const;

/**
 * Opens (creating it when the flags say so) a file with exactly `mode`, whatever the umask and
 * whatever mode an earlier file of that name had. An existing file is written only if it is a
 * regular file of ours with no other name (a hard link would make us write, and chmod, the file it
 * shares with someone else): anything else is refused before a byte or a mode changes.
 */
export async function openWithMode(file: string, flags: 'wx' | 'a', mode: FileMode): Promise<FileHandle> {
  const handle = await open(file, OPEN_FLAGS[flags], mode);
  try {
    const info = await handle.stat();
    const owner = process.geteuid?.();
    if (!info.isFile() || info.nlink !== 1 || (owner !== undefined && info.uid !== owner)) {
      throw Object.assign(
        new Error(`${file} is not a regular file of this account's (a link, or another account's file); refusing to write it`),
        { code: 'EUNSAFE' },
      );
    }
    if ((info.mode & 0o7777) !== mode) await handle.chmod(mode);
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/**
 * A new empty file with `mode`, for a writer that opens the file itself and keeps the mode it finds
 * (SQLite's backup API into an existing file, a write stream): the data never sits in a file that
 * others could read, not even while it is being written. Always a new file (O_EXCL): its names are
 * fresh temporary ones, and a link or file already there is somebody else's.
 */
export async function createEmptyFile(file: string, mode: FileMode): Promise<void> {
  await (await openWithMode(file, 'wx', mode)).close();
}

/** Like createEmptyFile, but an existing file is left as it is (SQLite's "open or create"). */
export async function createFileIfMissing(file: string, mode: FileMode): Promise<void> {
  try {
    await (await openWithMode(file, 'wx', mode)).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** A folder (and its missing parents) that only its owner can enter; an existing one is left as it is. */
export async function makePrivateDir(folder: string): Promise<void> {
  await mkdir(folder, { recursive: true, mode: PRIVATE_DIR_MODE });
}
