import { open } from 'node:fs/promises';

/**
 * Flushes a file being written to disk every `intervalMs` while `work` runs. A 1 GB copy written
 * through the page cache and fsynced once at the end turns that fsync into one multi-second flush,
 * and every other fsync on the disk (the application's commits) waits behind it: a writer stalled
 * 1.4 s during a hot backup here. Flushing as we go keeps each flush, and so each stall, small.
 */
export async function withPeriodicFlush<T>(file: string, intervalMs: number, work: () => Promise<T>): Promise<T> {
  let stopped = false;
  let flushing: Promise<void> = Promise.resolve();
  const flushOnce = async () => {
    const handle = await open(file, 'r').catch(() => null); // not created yet: nothing to flush
    if (!handle) return;
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    // One flush at a time: a slow disk must not pile them up.
    flushing = flushing.then(flushOnce).catch(() => undefined);
  }, intervalMs);
  try {
    return await work();
  } finally {
    stopped = true;
    clearInterval(timer);
    await flushing;
  }
}
