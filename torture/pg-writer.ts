/**
 * The application beside the command on PostgreSQL, as writer.ts is on SQLite: a process that
 * commits rows in a loop over one connection, each transaction one row in `ledger` and one in
 * `journal_entries` per tag, sometimes many rows (so a SIGKILL can land inside one). After every
 * COMMIT that succeeded it appends the committed tags to a file: the rows it saw committed, which
 * must survive. A failed transaction (a restore replaced its table, the connection dropped) is
 * rolled back and tried again with new tags, on a new connection when the old one is gone.
 * SIGTERM stops it after the current transaction and prints its counts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchWriter, PAUSE_MS, type Pace, type Writer } from './writer.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const SCRIPT = `
const pg = require(${JSON.stringify(path.join(REPO, 'node_modules/pg'))});
const fs = require('node:fs');
const [url, idsFile, prefix, seedText, pauseText] = process.argv.slice(1);
const pause = Number(pauseText);
let seed = Number(seedText) >>> 0;
const random = () => { seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return seed / 4294967296; };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
let client = null;
const connect = async () => {
  const next = new pg.Client({ connectionString: url, application_name: 'torture-writer' });
  next.on('error', () => { if (client === next) client = null; });
  await next.connect();
  client = next;
};
(async () => {
  let n = 0, commits = 0, rows = 0, errors = 0, lastError = null;
  await connect();
  process.stdout.write('ready\\n');
  while (!stopping) {
    const size = random() < 0.15 ? 20 + Math.floor(random() * 80) : 1;
    const tags = [];
    try {
      if (client === null) await connect();
      await client.query('BEGIN');
      for (let i = 0; i < size; i += 1) {
        const tag = prefix + '-' + (n += 1);
        await client.query("INSERT INTO ledger (tag, v) VALUES ($1, decode(md5($1), 'hex'))", [tag]);
        await client.query("INSERT INTO journal_entries (tag, v) VALUES ($1, decode(md5($1), 'hex'))", [tag]);
        tags.push(tag);
        if (i % 10 === 9) await sleep(1);
      }
      await client.query('COMMIT');
      fs.appendFileSync(idsFile, tags.join('\\n') + '\\n');
      commits += 1;
      rows += tags.length;
    } catch (error) {
      errors += 1;
      lastError = String(error && error.message || error);
      if (client !== null) await client.query('ROLLBACK').catch(() => { client = null; });
      await sleep(20);
    }
    await sleep(pause);
  }
  if (client !== null) await client.end().catch(() => undefined);
  process.stdout.write(JSON.stringify({ commits, rows, errors, lastError }) + '\\n');
})();
`;

export async function startPgWriter(url: string, idsFile: string, prefix: string, seed: number, pace: Pace): Promise<Writer> {
  return launchWriter([SCRIPT, url, idsFile, prefix, String(seed), String(PAUSE_MS[pace])], path.dirname(idsFile), idsFile);
}
