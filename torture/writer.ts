/**
 * The application beside the command: a process that commits rows in a loop, each transaction one
 * row in `ledger` and one in `journal_entries` per tag (so a torn transaction shows), sometimes a
 * long transaction of many rows (so a SIGKILL can land inside one). After every COMMIT that
 * succeeded it appends the committed tags to a file: the rows it saw committed, which must survive.
 * SIGTERM stops it after the current transaction and prints its counts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type Running } from './proc.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const SCRIPT = `
const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
const fs = require('node:fs');
const [db, idsFile, prefix, seedText, pauseText, busyText, retryText] = process.argv.slice(1);
const pause = Number(pauseText);
let seed = Number(seedText) >>> 0;
const random = () => { seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return seed / 4294967296; };
const connection = new sqlite3.Database(db, sqlite3.OPEN_READWRITE);
connection.configure('busyTimeout', Number(busyText));
const run = (sql, params = []) => new Promise((resolve, reject) => connection.run(sql, params, (e) => (e ? reject(e) : resolve())));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
(async () => {
  let n = 0, commits = 0, rows = 0, errors = 0, lastError = null;
  process.stdout.write('ready\\n');
  while (!stopping) {
    const size = random() < 0.15 ? 20 + Math.floor(random() * 80) : 1;
    const tags = [];
    try {
      await run('BEGIN IMMEDIATE');
      for (let i = 0; i < size; i += 1) {
        const tag = prefix + '-' + (n += 1);
        await run('INSERT INTO ledger (tag, v) VALUES (?, randomblob(64))', [tag]);
        await run('INSERT INTO journal_entries (tag, v) VALUES (?, randomblob(64))', [tag]);
        tags.push(tag);
        if (i % 10 === 9) await sleep(1);
      }
      await run('COMMIT');
      fs.appendFileSync(idsFile, tags.join('\\n') + '\\n');
      commits += 1;
      rows += tags.length;
    } catch (error) {
      errors += 1;
      lastError = String(error && error.message || error);
      await run('ROLLBACK').catch(() => undefined);
      await sleep(Number(retryText));
    }
    await sleep(pause);
  }
  connection.close(() => {
    process.stdout.write(JSON.stringify({ commits, rows, errors, lastError }) + '\\n');
  });
})();
`;

export interface Writer {
  readonly process: Running;
  readonly idsFile: string;
  /** SIGTERM: it finishes its transaction and reports. */
  stop(): Promise<string>;
  /** SIGKILL, wherever it is (often inside a transaction). */
  crash(): Promise<void>;
}

/** `busy`: a transaction every few ms; `calm`: a few a second. */
export type Pace = 'busy' | 'calm';
export const PAUSE_MS: Record<Pace, number> = { busy: 3, calm: 150 };

export interface WriterOptions {
  /** SQLite's busy timeout (default 30 s, like an application's). */
  readonly busyTimeoutMs?: number;
  /** Pause after a failed transaction before the next (default 20 ms). */
  readonly retryMs?: number;
}

export async function startWriter(
  db: string,
  idsFile: string,
  prefix: string,
  seed: number,
  pace: Pace,
  options: WriterOptions = {},
): Promise<Writer> {
  const timing = [String(PAUSE_MS[pace]), String(options.busyTimeoutMs ?? 30_000), String(options.retryMs ?? 20)];
  return launchWriter([SCRIPT, db, idsFile, prefix, String(seed), ...timing], path.dirname(db), idsFile);
}

/**
 * Starts a writer script (`node -e <script> <args…>`), waits for its `ready`, and hands back the
 * way to stop it (SIGTERM: its counts) or crash it (SIGKILL): every engine's writer starts so.
 */
export async function launchWriter(args: readonly string[], cwd: string, idsFile: string): Promise<Writer> {
  const running = startProcess('node', ['-e', ...args], { cwd, env: process.env, deadlineMs: 600_000 });
  if (!(await running.waitForOutput('ready', 15_000))) {
    const result = await running.done;
    throw new Error(`the writer did not start: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return {
    process: running,
    idsFile,
    async stop() {
      running.kill('SIGTERM');
      const result = await running.done;
      return `${result.stdout.replace('ready\n', '').trim()}${result.stderr.trim() ? ` stderr: ${result.stderr.trim()}` : ''}`;
    },
    async crash() {
      running.kill('SIGKILL');
      await running.done;
    },
  };
}

/** The tags the writer saw committed. */
export async function committedTags(idsFile: string): Promise<string[]> {
  const text = await readFile(idsFile, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '');
}
