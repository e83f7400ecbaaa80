import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { READ_CHUNK } from './hash.ts';

/** Why a path that should be a plain file is not one; thrown before anything reads it. */
export class NotRegularFileError extends Error {
  override readonly name = 'NotRegularFileError';
  readonly code = 'ENOTREGULAR';
}

/**
 * Opens a file for reading only when it is a regular file. A FIFO planted where a backup or
 * manifest should be must not hang the reader: the open does not wait for a writer (O_NONBLOCK,
 * which changes nothing for a regular file), and what it opened is checked before a byte is read.
 * `noFollow`: a symbolic link in the last component is refused too (O_NOFOLLOW).
 */
export async function openRegularFile(
  file: string,
  options: { readonly noFollow?: boolean } = {},
): Promise<{ readonly handle: FileHandle; readonly size: number; readonly info: Stats }> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0);
  const handle = await open(file, flags);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new NotRegularFileError(`${file} is not a regular file (a FIFO, a device or a folder)`);
    return { handle, size: info.size, info };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

export interface ReadRegularOptions {
  readonly noFollow?: boolean;
  /** Judges the file opened (owner, mode) before a byte of it is read; throws to refuse it. */
  readonly accept?: (info: Stats) => void;
}

/** The whole of a regular file of at most `maxBytes` bytes, as text. */
export async function readRegularFile(file: string, maxBytes: number, options: ReadRegularOptions = {}): Promise<string> {
  const { handle, size, info } = await openRegularFile(file, options);
  try {
    options.accept?.(info);
    if (size > maxBytes) throw new Error(`${file} is ${size} bytes, more than the ${maxBytes} it can be`);
    // Read at most one byte more than allowed: a file that grew since the stat is caught too.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new Error(`${file} is more than the ${maxBytes} bytes it can be`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** A read stream of a regular file (refused before it starts otherwise); the stream closes the file. */
export async function regularReadStream(file: string): Promise<Readable> {
  const { handle } = await openRegularFile(file);
  return handle.createReadStream({ highWaterMark: READ_CHUNK });
}
