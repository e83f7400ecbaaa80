/**
 * `--load`: a loaded machine beside every case, as deploy hosts are: a CPU hog on every core and an
 * application writing and fsyncing large files on the same file system as the case's database.
 * SQLite's crash recovery of a WAL and the runs that race it slow down under such load: a run that
 * passes on an idle machine can lose the WAL-index race there (issue 22, SQLITE_PROTOCOL).
 *
 * Every load process stops by itself after `maxMs` (a torture that dies leaves nothing spinning)
 * and removes its own files; `stop` ends them sooner, by their pids.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';

// No SIGTERM handler: the loop never yields to one; the default action ends it.
const HOG = `
const end = Date.now() + Number(process.argv[1]);
let x = 0;
while (Date.now() < end) { for (let i = 0; i < 1e6; i += 1) x = (x * 31 + i) | 0; }
`;

/** Writes 1 MiB blocks, fsyncs every 4 MiB, starts a new file every 256 MiB, deletes its file when done. */
const FSYNC_WRITER = `
const fs = require('node:fs');
const [file, maxMsText] = process.argv.slice(1);
const end = Date.now() + Number(maxMsText);
const block = Buffer.alloc(1 << 20, 0x5a);
let fd = null;
const finish = () => { try { if (fd !== null) fs.closeSync(fd); } catch {} try { fs.unlinkSync(file); } catch {} process.exit(0); };
process.on('SIGTERM', finish);
const step = () => {
  if (Date.now() >= end) return finish();
  if (fd === null) fd = fs.openSync(file, 'w');
  for (let i = 0; i < 4; i += 1) fs.writeSync(fd, block);
  fs.fsyncSync(fd);
  if (fs.fstatSync(fd).size >= 256 * (1 << 20)) { fs.closeSync(fd); fd = null; fs.unlinkSync(file); }
  setImmediate(step);
};
step();
`;

export interface Load {
  readonly processes: number;
  stop(): Promise<void>;
}

/** Starts the load; its files go in `folder` (on the case's file system). */
export function startLoad(folder: string, maxMs: number): Load {
  const children: ChildProcess[] = [];
  for (let core = 0; core < availableParallelism(); core += 1) {
    children.push(spawn(process.execPath, ['-e', HOG, String(maxMs)], { stdio: 'ignore' }));
  }
  children.push(
    spawn(process.execPath, ['-e', FSYNC_WRITER, path.join(folder, `load-fsync-${process.pid}.bin`), String(maxMs)], { stdio: 'ignore' }),
  );
  for (const child of children) child.on('error', () => undefined);
  return {
    processes: children.length,
    async stop() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
