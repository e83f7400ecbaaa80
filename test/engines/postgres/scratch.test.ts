import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { PgConnection, withPg } from '../../../src/engines/postgres/connection.ts';
import { postgresEngine } from '../../../src/engines/postgres/engine.ts';
import { scratchDatabaseName, sweepScratchDatabases } from '../../../src/engines/postgres/scratch.ts';
import { withDatabase } from '../../../src/engines/postgres/url.ts';
import { PG_SERVER, postgresDatabase, type TestDatabase } from '../../helpers/databases.ts';

const made: string[] = [];
afterEach(async () => {
  await withPg(PG_SERVER, async (connection) => {
    for (const name of made.splice(0)) await connection.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
});

/** A scratch name as a run of this host with pid `pid` (and optionally another host) would have made it. */
async function leftBehind(pid: number, host?: string): Promise<string> {
  let name = scratchDatabaseName().replace(`_${process.pid}_`, `_${pid}_`);
  if (host) name = name.replace(/^(migrate_guard_scratch_)[0-9a-f]{8}/, `$1${host}`);
  await withPg(PG_SERVER, (connection) => connection.exec(`CREATE DATABASE "${name}"`));
  made.push(name);
  return name;
}

const exists = async (name: string) =>
  (await withPg(PG_SERVER, (connection) => connection.all('SELECT 1 FROM pg_database WHERE datname = $1', [name]))).length === 1;

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = execa('node', ['-e', '']);
  await child;
  return child.pid!;
}

describe('PostgreSQL scratch databases a killed run left', () => {
  it("are dropped when their process is gone; a live one's, another host's and one in use stay", async () => {
    const dead = await deadPid();
    const orphan = await leftBehind(dead);
    const live = await leftBehind(process.pid);
    const elsewhere = await leftBehind(dead, 'abcdef01');
    const inUse = await leftBehind(await deadPid());
    const holder = await PgConnection.open(withDatabase(PG_SERVER, inUse));
    try {
      const dropped = await withPg(PG_SERVER, (connection) => sweepScratchDatabases(connection));
      expect(dropped).toContain(orphan);
      expect(dropped).not.toContain(inUse);
      expect(await exists(orphan)).toBe(false);
      expect(await exists(live)).toBe(true);
      expect(await exists(elsewhere)).toBe(true);
      expect(await exists(inUse)).toBe(true);
    } finally {
      await holder.close();
    }
  });

  // Found by the PostgreSQL torture: a `down` SIGKILLed while its backup's proof ran left its
  // scratch database; the recovery restored the backup (no scratch database made) and the next
  // migrate had nothing to do, so nothing swept it.
  it('are swept by the next run that takes the lock, which may make none', async () => {
    const orphan = await leftBehind(await deadPid());
    let database: TestDatabase | null = null;
    try {
      database = await postgresDatabase('mg_scratch_lock_sweep');
      const lock = await postgresEngine(database.url, { stateDir: '/tmp' }).lock('migrate');
      await lock.release();
      expect(await exists(orphan)).toBe(false);
    } finally {
      await database?.drop();
    }
  });

  it("are swept by the engine's next scratch database (a proof, a rehearsal, a drill)", async () => {
    const orphan = await leftBehind(await deadPid());
    let database: TestDatabase | null = null;
    try {
      database = await postgresDatabase('mg_scratch_sweep');
      const scratch = await postgresEngine(database.url, { stateDir: '/tmp' }).scratch('/tmp');
      await scratch.drop();
      expect(await exists(orphan)).toBe(false);
    } finally {
      await database?.drop();
    }
  });
});
