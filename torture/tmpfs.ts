/**
 * A small disk of its own: a size-limited tmpfs (root can mount one here), filled with a filler
 * file so that exactly `free` bytes are left. Falls back to nothing: the caller skips disk cases
 * with a line when `mount` is refused.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function freeBytes(folder: string): Promise<number> {
  const fs = await statfs(folder);
  return fs.bavail * fs.bsize;
}

export interface SmallDisk {
  readonly dir: string;
  /** Fills the disk so that `free` bytes (rounded down to whole pages) are left; returns what is left. */
  fill(free: number): Promise<number>;
  /** Removes the filler: the disk has room again (what an operator does after the alert). */
  unfill(): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountSmallDisk(dir: string, sizeBytes: number): Promise<SmallDisk> {
  await mkdir(dir, { recursive: true });
  const pages = Math.ceil(sizeBytes / 4096);
  await run('mount', ['-t', 'tmpfs', '-o', `size=${pages * 4096},mode=0755`, 'tmpfs', dir]);
  const filler = path.join(dir, 'filler.bin');
  return {
    dir,
    async fill(free) {
      await rm(filler, { force: true });
      const room = await freeBytes(dir);
      const fillBytes = Math.max(0, Math.floor((room - free) / 4096) * 4096);
      if (fillBytes > 0) await run('fallocate', ['-l', String(fillBytes), filler]);
      return freeBytes(dir);
    },
    async unfill() {
      await rm(filler, { force: true });
    },
    async unmount() {
      try {
        await run('umount', [dir]);
      } catch {
        // A process still holds a file there (it has been killed, but its handle may linger): detach lazily.
        await run('umount', ['-l', dir]).catch(() => undefined);
      }
    },
  };
}

/** Whether this machine lets us mount a tmpfs (root in a container that allows it). */
export async function canMountTmpfs(scratch: string): Promise<string | null> {
  try {
    const disk = await mountSmallDisk(scratch, 1 << 20);
    await disk.unmount();
    await rm(scratch, { recursive: true, force: true });
    return null;
  } catch (error) {
    return (error as Error).message.split('\n')[0] ?? 'mount failed';
  }
}
