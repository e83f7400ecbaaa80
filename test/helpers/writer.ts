import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './project.ts';

/**
 * A second process that writes to the database in a loop, like a busy application: each
 * transaction adds one row to `ledger` and one to `journal_entries`, so any consistent snapshot
 * has equal counts in both. It stops when `stopFile` appears and prints its worst commit latency.
 */
export function startWriter(db: string, stopFile: string, options: { wal: boolean }) {
  const script = `
    const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
    const fs = require('node:fs');
    const db = new sqlite3.Database(${JSON.stringify(db)});
    db.configure('busyTimeout', 30000);
    const run = (sql) => new Promise((resolve, reject) => db.exec(sql, (e) => (e ? reject(e) : resolve())));
    (async () => {
      await run(${JSON.stringify(options.wal ? 'PRAGMA journal_mode = WAL' : 'PRAGMA journal_mode = DELETE')});
      await run('CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY, v BLOB); CREATE TABLE IF NOT EXISTS journal_entries (id INTEGER PRIMARY KEY, v BLOB);');
      let worst = 0, count = 0;
      console.log('ready');
      while (!fs.existsSync(${JSON.stringify(stopFile)})) {
        const started = performance.now();
        await run('BEGIN IMMEDIATE; INSERT INTO ledger (v) VALUES (randomblob(200)); INSERT INTO journal_entries (v) VALUES (randomblob(200)); COMMIT;');
        worst = Math.max(worst, performance.now() - started);
        count += 1;
      }
      console.log(JSON.stringify({ worstMs: Math.round(worst), commits: count }));
      db.close();
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const child = execa('node', ['-e', script], { reject: false });
  const ready = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { child, ready };
}
