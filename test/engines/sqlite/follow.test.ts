import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppliedReader } from '../../../src/engines/contract.ts';
import { SqliteConnection } from '../../../src/engines/sqlite/connection.ts';
import { readFacts } from '../../../src/engines/sqlite/facts.ts';
import { followSnapshot } from '../../../src/engines/sqlite/follow.ts';
import { readCommittedFrames } from '../../../src/engines/sqlite/wal-frames.ts';
import { dump, exec, TempProject } from '../../helpers/project.ts';

/**
 * The catch-up of a followed snapshot (issue 18), on real files: whatever the application commits
 * between the snapshot and the write lock, the caught-up copy must be the database as the lock
 * found it, to the row.
 */
const noHistory: AppliedReader = async () => [];

let project: TempProject;
let copy: string;
beforeEach(async () => {
  project = await TempProject.create();
  copy = path.join(project.dir, 'copy.db');
});
afterEach(async () => project.cleanup());

async function seed(journalMode: 'WAL' | 'DELETE'): Promise<void> {
  await exec(
    project.db,
    `PRAGMA journal_mode = ${journalMode};
     CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, v BLOB);
     CREATE INDEX items_name ON items (name);
     WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
     INSERT INTO items (name, v) SELECT 'item' || x, randomblob(200) FROM n;`,
  );
}

/**
 * The application's connection stays open throughout, as a running app's does: SQLite would
 * otherwise checkpoint and delete the WAL when the last connection closes.
 */
async function openApp(): Promise<SqliteConnection> {
  const app = await SqliteConnection.open(project.db, 'readwrite');
  app.setBusyTimeout(5000);
  return app;
}

/** Takes the write lock as a rollout's group does, catches up under it, and returns the live dump then. */
async function catchUpUnderLock(follower: Awaited<ReturnType<typeof followSnapshot>>) {
  const lock = await SqliteConnection.open(project.db, 'readwrite');
  try {
    await lock.exec('BEGIN IMMEDIATE');
    const expected = await readFacts(lock, noHistory);
    const live = await dump(project.db);
    const started = await follower.catchUp(expected, noHistory);
    if (started === null) throw new Error('a WAL snapshot must catch up');
    const caught = await started.applied;
    await lock.exec('ROLLBACK');
    return { live, caught, pages: started.pages };
  } finally {
    await lock.close();
  }
}

describe('a followed snapshot in WAL mode', () => {
  it('catches up inserts, updates, deletes and a new table committed while it was held, exactly', async () => {
    await seed('WAL');
    const app = await openApp();
    try {
      const follower = await followSnapshot(project.db, copy, 0o600);
      const before = await dump(copy);
      await app.exec(`UPDATE items SET name = 'changed' WHERE id % 7 = 0;
        DELETE FROM items WHERE id % 11 = 0;
        INSERT INTO items (name, v) SELECT 'late' || id, randomblob(300) FROM items WHERE id < 3000;
        CREATE TABLE later (id INTEGER PRIMARY KEY, t TEXT); INSERT INTO later (t) VALUES ('x'), ('y');`);
      // A checkpoint the application asks for cannot move past the held snapshot.
      await app.all('PRAGMA wal_checkpoint(RESTART)');
      const { live, caught, pages } = await catchUpUnderLock(follower);
      expect(pages).toBeGreaterThan(0);
      expect(live).not.toBe(before);
      expect(await dump(copy)).toBe(live);
      expect(caught.facts.tables).toMatchObject({ later: 2 });
      const integrity = await SqliteConnection.open(copy, 'readonly');
      expect(await integrity.all('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      await integrity.close();
      // Self-contained: a rollback-journal file, nothing beside it.
      const header = Buffer.alloc(20);
      const handle = await open(copy, 'r');
      await handle.read(header, 0, 20, 0);
      await handle.close();
      expect([header[18], header[19]]).toEqual([1, 1]);
      expect(existsSync(`${copy}-wal`)).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('catches up a database that shrank (VACUUM) and one that grew', async () => {
    await seed('WAL');
    const app = await openApp();
    try {
      const follower = await followSnapshot(project.db, copy, 0o600);
      const sizeBefore = (await stat(copy)).size;
      await app.exec(`DELETE FROM items WHERE id > 2000; VACUUM;`);
      const { live } = await catchUpUnderLock(follower);
      expect(await dump(copy)).toBe(live);
      expect((await stat(copy)).size).toBeLessThan(sizeBefore);

      const grower = await followSnapshot(project.db, copy + '2', 0o600);
      await app.exec(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 30000)
        INSERT INTO items (name, v) SELECT 'new' || x, randomblob(500) FROM n;`);
      const grown = await catchUpUnderLock(grower);
      expect(await dump(copy + '2')).toBe(grown.live);
    } finally {
      await app.close();
    }
  });

  it('needs nothing when nothing was committed since', async () => {
    await seed('WAL');
    const app = await openApp();
    try {
      const follower = await followSnapshot(project.db, copy, 0o600);
      const { live } = await catchUpUnderLock(follower);
      expect(await dump(copy)).toBe(live);
    } finally {
      await app.close();
    }
  });

  it('refuses a copy whose proven bytes changed on disk before the catch-up', async () => {
    await seed('WAL');
    const app = await openApp();
    try {
      const follower = await followSnapshot(project.db, copy, 0o600);
      await app.exec(`INSERT INTO items (name) VALUES ('one more')`);
      const handle = await open(copy, 'r+');
      await handle.write(Buffer.from([0xff, 0xee]), 0, 2, 3 * 4096 + 100);
      await handle.close();
      await expect(catchUpUnderLock(follower)).rejects.toMatchObject({ code: 'BACKUP_UNVERIFIED' });
    } finally {
      await app.close();
    }
  });
});

describe('a followed snapshot in rollback-journal mode', () => {
  it('holds no lock, and says it cannot catch up rather than open the live file under the write lock', async () => {
    await seed('DELETE');
    const follower = await followSnapshot(project.db, copy, 0o600);
    const before = await dump(copy);
    const app = await openApp();
    try {
      // A held reader would make this write wait (and fail) in rollback-journal mode.
      app.setBusyTimeout(0);
      await app.exec(`UPDATE items SET name = 'changed' WHERE id % 5 = 0; INSERT INTO items (name) VALUES ('late');`);
    } finally {
      await app.close();
    }
    const lock = await SqliteConnection.open(project.db, 'readwrite');
    try {
      await lock.exec('BEGIN IMMEDIATE');
      expect(await follower.catchUp(await readFacts(lock, noHistory), noHistory)).toBeNull();
      // The write lock is still ours: another connection cannot write.
      const other = await SqliteConnection.open(project.db, 'readwrite');
      await expect(other.exec("INSERT INTO items (name) VALUES ('blocked')")).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      await other.close();
      await lock.exec('ROLLBACK');
    } finally {
      await lock.close();
    }
    expect(await dump(copy)).toBe(before);
  });
});

describe('readCommittedFrames', () => {
  it('reads nothing from a WAL that does not exist', async () => {
    expect((await readCommittedFrames(path.join(project.dir, 'none-wal'))).databasePages).toBeNull();
  });

  it('stops at the last commit: a transaction still open is not the database', async () => {
    await seed('WAL');
    const app = await openApp();
    const writer = await SqliteConnection.open(project.db, 'readwrite');
    try {
      await app.exec(`INSERT INTO items (name) VALUES ('committed')`);
      const committed = await readCommittedFrames(`${project.db}-wal`);
      // A big open transaction spills its pages into the WAL without a commit frame.
      await writer.exec(`PRAGMA cache_size = 10; BEGIN; UPDATE items SET v = randomblob(210);`);
      const during = await readCommittedFrames(`${project.db}-wal`);
      expect(during.frames).toBe(committed.frames);
      expect([...during.pages]).toEqual([...committed.pages]);
      await writer.exec('ROLLBACK');
    } finally {
      await writer.close();
      await app.close();
    }
  });
});
