/**
 * The application beside a rollout (issue 18): a process that works on the database every 20 ms
 * the way a running app does, and reports the longest any one of its statements waited, and how
 * many failed. `npm run bench` runs it beside `migrate-guard migrate` and beside plain knex on the
 * same database, one trivial migration each.
 */
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import path from 'node:path';

export interface AppWait {
  readonly worstMs: number;
  readonly operations: number;
  readonly failed: number;
  readonly lastError: string | null;
}

/** SQLite: one INSERT per 20 ms on its own connection, with the usual 5 s busy_timeout. */
const sqliteApp = (repo: string, db: string, stop: string) => `
  const sqlite3 = require(${JSON.stringify(path.join(repo, 'node_modules/sqlite3'))});
  const fs = require('node:fs');
  const db = new sqlite3.Database(${JSON.stringify(db)});
  db.configure('busyTimeout', 5000);
  const run = (sql) => new Promise((resolve, reject) => db.exec(sql, (e) => (e ? reject(e) : resolve())));
  (async () => {
    let worstMs = 0, operations = 0, failed = 0, lastError = null;
    console.log('ready');
    while (!fs.existsSync(${JSON.stringify(stop)})) {
      const t = performance.now();
      try { await run("INSERT INTO holidays (date, exchange, name) VALUES (date('now'), 'X' || abs(random()), 'app')"); operations += 1; }
      catch (e) { failed += 1; lastError = String(e.message); }
      worstMs = Math.max(worstMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(JSON.stringify({ worstMs: Math.round(worstMs), operations, failed, lastError }));
    db.close();
  })();
`;

/** PostgreSQL: a read and an update of one account by primary key every 20 ms. */
const postgresApp = (repo: string, url: string, stop: string) => `
  const { Client } = require(${JSON.stringify(path.join(repo, 'node_modules/pg'))});
  const fs = require('node:fs');
  (async () => {
    const client = new Client({ connectionString: ${JSON.stringify(url)}, application_name: 'bench-app' });
    await client.connect();
    let worstMs = 0, operations = 0, failed = 0, lastError = null;
    console.log('ready');
    while (!fs.existsSync(${JSON.stringify(stop)})) {
      const id = 1 + (operations % 2);
      for (const sql of ['SELECT * FROM accounts WHERE id = $1', 'UPDATE accounts SET name = name WHERE id = $1']) {
        const t = performance.now();
        try { await client.query(sql, [id]); operations += 1; }
        catch (e) { failed += 1; lastError = String(e.message); }
        worstMs = Math.max(worstMs, performance.now() - t);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(JSON.stringify({ worstMs: Math.round(worstMs), operations, failed, lastError }));
    await client.end();
  })();
`;

/** Runs `command` with the application working beside it; the application's worst wait. */
export async function appBeside(
  options: { readonly repo: string; readonly work: string; readonly engine: 'sqlite' | 'postgres'; readonly database: string },
  command: () => Promise<unknown>,
): Promise<AppWait> {
  const stop = path.join(options.work, 'stop-app');
  await rm(stop, { force: true });
  const script = (options.engine === 'sqlite' ? sqliteApp : postgresApp)(options.repo, options.database, stop);
  const app = execa('node', ['-e', script], { reject: false });
  await new Promise<void>((resolve) => app.stdout!.once('data', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 500));
  try {
    await command();
  } finally {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await writeFile(stop, '');
  }
  const result = await app;
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as AppWait;
}
