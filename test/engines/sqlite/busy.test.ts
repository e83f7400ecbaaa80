import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseWait } from '../../../src/engines/contract.ts';
import { processesHolding } from '../../../src/engines/sqlite/busy.ts';
import { sqliteEngine } from '../../../src/engines/sqlite/engine.ts';
import { createItems } from '../../helpers/migrations.ts';
import { crashInWal, holdShmLock, type ShmHolder } from '../../helpers/shm-lock.ts';
import { useTempProject } from '../../helpers/use-project.ts';

const project = useTempProject(createItems, { migrate: true });
let holder: ShmHolder | null = null;
beforeEach(async () => {
  await crashInWal(project().db);
});
afterEach(async () => {
  await holder?.release();
  holder = null;
});

describe('a busy live database', () => {
  it('names the process that holds a lock on its files', async () => {
    const db = project().db;
    holder = await holdShmLock(db);
    const holders = await processesHolding([db, `${db}-wal`, `${db}-shm`]);
    expect(holders?.map((h) => h.pid)).toEqual([holder.pid]);
    expect(holders?.[0]?.command).toMatch(/^perl/);
    await holder.release();
    holder = null;
    expect(await processesHolding([db, `${db}-wal`, `${db}-shm`])).toEqual([]);
  });

  it('is waited for while another process holds its shared memory (SQLITE_PROTOCOL), then recovered and read', async () => {
    const db = project().db;
    holder = await holdShmLock(db);
    const engine = sqliteEngine(db);
    const waits: DatabaseWait[] = [];
    await engine.settle({
      write: true,
      onWait: (wait) => {
        waits.push(wait);
        // The other process lets go once we are seen waiting: no clock decides the outcome.
        if (!wait.over) void holder?.release();
      },
    });
    expect(waits.map((wait) => wait.over)).toEqual([false, true]);
    expect(waits[0]!.reason).toMatch(/^SQLITE_PROTOCOL/);
    const rows = await engine.read('readonly', (reader) => reader.all<{ name: string }>('SELECT name FROM items ORDER BY id'));
    expect(rows.map((row) => row.name)).toEqual(['alpha', 'beta', 'from-the-app']);
  });
});
