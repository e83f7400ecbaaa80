import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exec, parseReport, query, REPO, TempProject, waitForFile } from '../helpers/project.ts';
import { expectOnlyProvenBackups } from '../helpers/rollout.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';

/**
 * Issue 18: the application keeps writing while `migrate` runs. A process beside the command
 * writes a row every 20 ms with SQLite's usual 5 s busy_timeout and measures every write; the
 * database is large enough that proving the backup takes seconds.
 */
function startApp(db: string, stopFile: string) {
  const script = `
    const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
    const fs = require('node:fs');
    const db = new sqlite3.Database(${JSON.stringify(db)});
    db.configure('busyTimeout', 5000);
    const run = (sql) => new Promise((resolve, reject) => db.exec(sql, (e) => (e ? reject(e) : resolve())));
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    (async () => {
      let worst = 0, writes = 0, failed = 0, lastError = null;
      console.log('ready');
      while (!fs.existsSync(${JSON.stringify(stopFile)})) {
        const started = performance.now();
        try {
          await run("INSERT INTO ledger (v) VALUES (randomblob(100))");
          writes += 1;
        } catch (error) {
          failed += 1;
          lastError = String(error.message);
        }
        worst = Math.max(worst, performance.now() - started);
        await sleep(20);
      }
      console.log(JSON.stringify({ worstMs: Math.round(worst), writes, failed, lastError }));
      db.close();
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const child = execa('node', ['-e', script], { reject: false });
  const ready = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { child, ready };
}

describe('a live rollout on SQLite (WAL)', () => {
  let project: TempProject;
  beforeEach(async () => {
    project = await TempProject.create();
    // About 120 MB: the backup's integrity_check takes seconds here.
    await exec(
      project.db,
      `PRAGMA journal_mode = WAL;
       CREATE TABLE ledger (id INTEGER PRIMARY KEY, v BLOB);
       CREATE TABLE bulk (id INTEGER PRIMARY KEY, k TEXT, v BLOB);
       CREATE INDEX bulk_k ON bulk (k);
       WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000)
       INSERT INTO bulk (k, v) SELECT hex(randomblob(8)), randomblob(300) FROM n;`,
    );
    // Inside the group's write lock, the migration records the last row committed before it.
    await project.writeMigration(
      '001_seen.js',
      `exports.up = async (knex) => { await knex.raw('CREATE TABLE seen AS SELECT (SELECT max(id) FROM ledger) AS max_id, (SELECT count(*) FROM ledger) AS n'); };
       exports.down = async (knex) => { await knex.schema.dropTable('seen'); };`,
    );
  });
  afterEach(async () => project.cleanup());

  it('never fails a write, waits far less than the proof, and the backup holds every row committed before the first change', async () => {
    const stopFile = path.join(project.dir, 'stop');
    const app = startApp(project.db, stopFile);
    await app.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await project.run(['migrate', '--json']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeFile(stopFile, '');
    const appResult = await app.child;
    const seen = JSON.parse(appResult.stdout.trim().split('\n').pop()!) as {
      worstMs: number;
      writes: number;
      failed: number;
      lastError: string | null;
    };

    expect(result.exitCode, result.all).toBe(0);
    const report = parseReport(result.stdout);
    expect(seen.failed, String(seen.lastError)).toBe(0);
    expect(seen.writes).toBeGreaterThan(20);
    // The proof alone (integrity_check of ~120 MB) takes seconds; the app never waited that long.
    expect(seen.worstMs).toBeLessThan(Math.max(1500, report.timings.proof / 2));

    const [marker] = await query<{ max_id: number; n: number }>(project.db, 'SELECT max_id, n FROM seen');
    const [inBackup] = await query<{ max_id: number; n: number }>(report.backup, 'SELECT max(id) AS max_id, count(*) AS n FROM ledger');
    // Exactly the rows committed before the migration's first change: none missing, none after.
    expect(inBackup).toEqual(marker);
    const manifest = JSON.parse(await readFile(`${report.backup}.manifest.json`, 'utf8')) as { tables: Record<string, number> };
    expect(manifest.tables.ledger).toBe(marker!.n);
    // The backup is a proven, self-contained file: verify re-proves it from its bytes.
    const verified = await project.run(['verify', report.backup]);
    expect(verified.exitCode, verified.all).toBe(0);
    expect(existsSync(`${report.backup}-wal`)).toBe(false);
  }, 180_000);

  it('a kill -9 inside the group, as the catch-up is proven beside the migration, leaves the database as it was, with every app row; the next run applies once', async () => {
    const marker = path.join(project.dir, 'running');
    await project.writeMigration(
      '002_hang.js',
      `exports.up = async (knex) => {
         await knex.raw('CREATE TABLE hung (id INTEGER PRIMARY KEY)');
         if (process.env.HANG !== '1') return;
         require('node:fs').writeFileSync(${JSON.stringify(marker)}, '');
         for (;;) await new Promise((resolve) => setTimeout(resolve, 20));
       };
       exports.down = async (knex) => { await knex.schema.dropTable('hung'); };`,
    );
    const stopFile = path.join(project.dir, 'stop');
    const app = startApp(project.db, stopFile);
    await app.ready;
    const killed = project.run(['migrate'], { env: { HANG: '1' } });
    await waitForFile(marker, 120_000);
    killed.kill('SIGKILL');
    await killed;
    // Nothing was committed: the group's tables are not there.
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE name IN ('seen', 'hung')")).toEqual([]);

    const next = await project.run(['migrate', '--json']);
    await writeFile(stopFile, '');
    const seen = JSON.parse((await app.child).stdout.trim().split('\n').pop()!) as { failed: number; writes: number };
    expect(next.exitCode, next.all).toBe(0);
    const report = parseReport(next.stdout);
    expect(report.recovered).toMatchObject({ state: 'grouped', restoredFrom: null });
    expect(report.applied).toEqual(['001_seen', '002_hang']);
    expect(seen.failed).toBe(0);
    // Every row the application committed is there (its ids have no gap up to the last one).
    const [ledger] = await query<{ n: number; max_id: number }>(project.db, 'SELECT count(*) AS n, max(id) AS max_id FROM ledger');
    expect(ledger!.n).toBe(ledger!.max_id);
    expect(ledger!.n).toBe(seen.writes);
    await expectOnlyProvenBackups(project);
  }, 240_000);
});

/** PostgreSQL: an application reading and updating accounts by primary key every 20 ms. */
function startPgApp(url: string, stopFile: string) {
  const script = `
    const { Client } = require(${JSON.stringify(path.join(REPO, 'node_modules/pg'))});
    const fs = require('node:fs');
    (async () => {
      const client = new Client({ connectionString: ${JSON.stringify('__URL__')}, application_name: 'live-app' });
      await client.connect();
      let worst = 0, operations = 0, failed = 0, lastError = null;
      console.log('ready');
      while (!fs.existsSync(${JSON.stringify(stopFile)})) {
        for (const sql of ['SELECT * FROM accounts WHERE id = $1', 'UPDATE accounts SET hits = hits + 1 WHERE id = $1']) {
          const started = performance.now();
          try { await client.query(sql, [1 + (operations % 100)]); operations += 1; }
          catch (error) { failed += 1; lastError = String(error.message); }
          worst = Math.max(worst, performance.now() - started);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      console.log(JSON.stringify({ worstMs: Math.round(worst), operations, failed, lastError }));
      await client.end();
    })().catch((e) => { console.error(e); process.exit(1); });
  `.replace('__URL__', url);
  const child = execa('node', ['-e', script], { reject: false });
  const ready = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { child, ready };
}

describe('a live rollout on PostgreSQL', () => {
  let project: TempProject;
  let db: TestDatabase;
  beforeEach(async () => {
    project = await TempProject.create();
    db = await postgresDatabase('mg_live');
    // Large enough that the dump and its proof (a restore into a scratch database) take seconds.
    await db.exec(`CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, hits integer NOT NULL DEFAULT 0, pad text);
      INSERT INTO accounts (name, pad) SELECT 'account ' || x, repeat(md5(x::text), 4) FROM generate_series(1, 400000) AS x;`);
    await project.writeMigration(
      '001_memo.js',
      `exports.up = async (knex) => { await knex.schema.alterTable('accounts', (t) => { t.text('memo'); }); };
       exports.down = async (knex) => { await knex.schema.alterTable('accounts', (t) => { t.dropColumn('memo'); }); };`,
    );
  });
  afterEach(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  it('proves the dump before the migration takes its lock: reads and updates by key never wait for the proof', async () => {
    const stopFile = path.join(project.dir, 'stop');
    const app = startPgApp(db.url, stopFile);
    await app.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await project.run(['migrate', '--json'], { env: { DATABASE_URL: db.url } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeFile(stopFile, '');
    const seen = JSON.parse((await app.child).stdout.trim().split('\n').pop()!) as {
      worstMs: number;
      operations: number;
      failed: number;
      lastError: string | null;
    };
    expect(result.exitCode, result.all).toBe(0);
    const report = parseReport(result.stdout);
    expect(seen.failed, String(seen.lastError)).toBe(0);
    expect(seen.operations).toBeGreaterThan(20);
    // The proof (a restore of the whole dump) takes seconds; the application's worst wait is the
    // ALTER TABLE's own moment, far below it.
    expect(seen.worstMs).toBeLessThan(Math.max(500, report.timings.proof / 2));
    expect(
      await db.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'memo'"),
    ).toHaveLength(1);
  }, 240_000);
});
