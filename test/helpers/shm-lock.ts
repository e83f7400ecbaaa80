import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './project.ts';

/**
 * Leaves the database as an application SIGKILLed in WAL mode leaves it: committed rows in the
 * -wal file, a -shm file nobody holds any more, which the next connection must recover.
 */
export async function crashInWal(db: string): Promise<void> {
  const script = `
    const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
    const db = new sqlite3.Database(${JSON.stringify(db)});
    db.exec("PRAGMA journal_mode = WAL; INSERT INTO items (name) VALUES ('from-the-app')", (error) => {
      if (error) { console.error(error); process.exit(1); }
      process.kill(process.pid, 'SIGKILL');
    });
  `;
  const result = await execa('node', ['-e', script], { reject: false });
  if (result.signal !== 'SIGKILL') throw new Error(`the crashing application did not crash: ${result.stderr}`);
}

export interface ShmHolder {
  readonly pid: number;
  release(): Promise<void>;
}

/**
 * Another process holding the write lock on the byte of the -shm file that SQLite's unix VFS takes
 * while it opens the shared memory (its "dead man switch", byte 128), as a process that is opening
 * or recovering the database at that moment does. Every connection of ours then loses the WAL-index
 * race until SQLite gives up with SQLITE_PROTOCOL (about 10 s). A lock from Perl (part of every
 * Debian system; Node has no fcntl locks): it holds until its stdin closes.
 */
export async function holdShmLock(db: string): Promise<ShmHolder> {
  const script = `
    use strict; use Fcntl qw(F_SETLK F_WRLCK SEEK_SET O_RDWR);
    sysopen(my $fh, $ARGV[0], O_RDWR) or die "open: $!";
    my $lock = pack('s s x4 q q i x4', F_WRLCK, SEEK_SET, 128, 1, 0);
    fcntl($fh, F_SETLK, $lock) or die "lock: $!";
    $| = 1; print "held\\n";
    my $line = <STDIN>;
  `;
  const child = execa('perl', ['-e', script, `${db}-shm`], { reject: false, stdin: 'pipe' });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    void child.then((result) => reject(new Error(`the lock holder ended: ${result.stderr}`)));
  });
  return {
    pid: child.pid!,
    async release() {
      child.stdin!.end();
      await child;
    },
  };
}
