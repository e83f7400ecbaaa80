import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './project.ts';

/** What the application measured while it ran beside `migrate`. */
export interface AppMeasures {
  /** The slowest insert, in ms, as the application waited for it. */
  readonly worstMs: number;
  readonly inserts: number;
  readonly failures: number;
  readonly errors: readonly string[];
}

/**
 * An application process on a PostgreSQL database: a report (a REPEATABLE READ transaction, named
 * `report-app`, that has read `table`, so an ALTER TABLE of it waits) held for `reportMs` or until
 * `release` is called, and, with `insert`, another connection (`app-writer`) inserting a row into
 * `table` every 20 ms until `stop`, timing each insert. `pg` is the repository's.
 */
export function startPgApp(url: string, options: { readonly table: string; readonly reportMs: number; readonly insert: boolean }) {
  const script = `
    const { Client } = require(${JSON.stringify(path.join(REPO, 'node_modules/pg'))});
    const readline = require('node:readline');
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    let release, stop = false;
    const released = new Promise((resolve) => { release = resolve; });
    readline.createInterface({ input: process.stdin }).on('line', (line) => {
      if (line === 'release') release();
      if (line === 'stop') { release(); stop = true; }
    });
    (async () => {
      const report = new Client({ connectionString: ${JSON.stringify(url)}, application_name: 'report-app' });
      const writer = new Client({ connectionString: ${JSON.stringify(url)}, application_name: 'app-writer' });
      await report.connect();
      await writer.connect();
      const reportPid = (await report.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await report.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await report.query('SELECT count(*) FROM ${options.table}');
      const reportDone = Promise.race([sleep(${options.reportMs}), released]).then(() => report.query('COMMIT'));
      console.log(JSON.stringify({ reportPid }));
      let worstMs = 0, inserts = 0, failures = 0;
      const errors = [];
      while (${options.insert} && !stop) {
        const started = performance.now();
        try {
          await writer.query("INSERT INTO ${options.table} (name) VALUES ('from the app')");
          inserts += 1;
        } catch (error) {
          failures += 1;
          errors.push(error.message);
        }
        worstMs = Math.max(worstMs, performance.now() - started);
        await sleep(20);
      }
      await reportDone;
      while (!stop) await sleep(20);
      await report.end();
      await writer.end();
      // stdin, still open, would keep the process alive: exit once the measures are out.
      process.stdout.write(JSON.stringify({ worstMs: Math.round(worstMs), inserts, failures, errors }) + String.fromCharCode(10), () => process.exit(0));
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
  const child = execa('node', ['-e', script], { reject: false, stdin: 'pipe' });
  const lines: string[] = [];
  let buffered = '';
  const ready = new Promise<{ reportPid: number }>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length === 1) resolve(JSON.parse(line) as { reportPid: number });
      }
    });
    void child.then((result) => reject(new Error(`the app ended before it was ready: ${result.stderr}`)));
  });
  return {
    ready,
    /** Ends the report transaction now. */
    release: () => child.stdin!.write('release\n'),
    /** Ends the report (if still open) and the inserts; what the application measured. */
    async stop(): Promise<AppMeasures> {
      child.stdin!.write('stop\n');
      const result = await child;
      if (result.exitCode !== 0) throw new Error(`the app failed: ${result.stderr}`);
      const last = result.stdout.trim().split('\n').at(-1)!;
      return JSON.parse(last) as AppMeasures;
    },
  };
}
