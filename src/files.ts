import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/** fsync a file (or a directory, which makes a rename in it durable). */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes to a temporary name, fsyncs, renames, then fsyncs the directory: a reader (or a power
 * cut) sees the old file or the new one, never half of one.
 */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
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
  await rename(temporary, file);
  await fsyncPath(path.dirname(file));
}

/** Streams the file through sha256: memory stays flat whatever the database size. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export function pathExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export async function removeIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
