/**
 * `npm run bench [-- --size-mb N] [--repeats R]`: migrate-guard against the runbook's shell
 * procedures and plain knex, side by side in one run, medians of R runs, ratios ours / theirs.
 * Writes bench/results.md. Not a CI test: CI runs it at a tiny size to keep it working.
 */
import { execa } from 'execa';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SqliteConnection } from '../src/engines/sqlite/connection.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO, 'bin/migrate-guard.js');
const { values } = parseArgs({ options: { 'size-mb': { type: 'string', default: '1000' }, repeats: { type: 'string', default: '3' } } });
const sizeMb = Number(values['size-mb']);
const repeats = Number(values.repeats);
const work = path.join(tmpdir(), `migrate-guard-bench-${sizeMb}mb`);
const hasSqlite3 = (await execa('sqlite3', ['--version'], { reject: false })).exitCode === 0;
const hasTime = existsSync('/usr/bin/time');

interface Sample {
  readonly seconds: number;
  readonly rssKb: number | null;
}

/** Runs a command (through /usr/bin/time for the peak RSS when present) and times it. */
async function measure(command: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Sample> {
  const started = performance.now();
  const wrapped = hasTime ? ['/usr/bin/time', ['-f', '__RSS__%M', command, ...args]] as const : [command, args] as const;
  const result = await execa(wrapped[0], [...wrapped[1]], { cwd: options.cwd ?? work, env: options.env ?? {}, reject: false, stdin: 'ignore' });
  const seconds = (performance.now() - started) / 1000;
  if (result.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.exitCode}): ${result.stderr.slice(-500)}`);
  const rss = /__RSS__(\d+)/.exec(result.stderr)?.[1];
  return { seconds, rssKb: rss ? Number(rss) : null };
}

const sh = (script: string) => measure('bash', ['-c', script]);
const median = (samples: readonly Sample[]) => [...samples].sort((a, b) => a.seconds - b.seconds)[Math.floor(samples.length / 2)]!;
const maxRss = (samples: readonly Sample[]) => Math.max(...samples.map((s) => s.rssKb ?? 0));

async function repeat(setup: (() => Promise<void>) | null, run: () => Promise<Sample>): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < repeats; i += 1) {
    await setup?.();
    samples.push(await run());
  }
  return samples;
}

async function ensureDatabase(file: string, mb: number): Promise<void> {
  if (existsSync(file)) return;
  console.error(`generating a ${mb} MB DMS database at ${file} (once; reused by later runs)…`);
  await execa('node', ['--import', 'tsx', path.join(REPO, 'bench/make-large-db.ts'), file, String(mb)], { cwd: REPO, stdio: 'inherit' });
}

const trivialMigration = `import type { Knex } from 'knex';
export async function up({ context: knex }: { context: Knex }) { await knex.schema.alterTable('accounts', (t) => { t.text('memo'); }); }
export async function down({ context: knex }: { context: Knex }) { await knex.schema.alterTable('accounts', (t) => { t.dropColumn('memo'); }); }
`;

await mkdir(work, { recursive: true });
const source = path.join(work, 'source.db');
await ensureDatabase(source, sizeMb);
const small = path.join(tmpdir(), `migrate-guard-bench-${Math.max(10, Math.round(sizeMb / 10))}mb`, 'source.db');
await mkdir(path.dirname(small), { recursive: true });
await ensureDatabase(small, Math.max(10, Math.round(sizeMb / 10)));

const db = path.join(work, 'database.db');
const backups = path.join(work, 'backups');
const migrations = path.join(work, 'migrations');
const migrationsPlusOne = path.join(work, 'migrations-plus-one');
await rm(migrations, { recursive: true, force: true });
await rm(migrationsPlusOne, { recursive: true, force: true });
await mkdir(migrations);
await mkdir(migrationsPlusOne);
for (const name of await readdir(path.join(REPO, 'migrations'))) {
  await copyFile(path.join(REPO, 'migrations', name), path.join(migrations, name));
  await copyFile(path.join(REPO, 'migrations', name), path.join(migrationsPlusOne, name));
}
await writeFile(path.join(migrationsPlusOne, '29990101000000_add_account_memo.ts'), trivialMigration);
const fresh = async () => {
  await rm(backups, { recursive: true, force: true });
  for (const suffix of ['', '-wal', '-shm']) await rm(`${db}${suffix}`, { force: true });
  await copyFile(source, db);
};
const ours = (...args: string[]) => measure('node', [BIN, ...args, '--db', db, '--backup-dir', backups, '--migrations', migrations]);
const bytes = (await stat(source)).size;
const rows: { task: string; ours: Sample[]; theirs: Sample[] | null; theirsLabel: string; target: string }[] = [];
const log = (text: string) => console.error(text);

// 1. Verified backup.
log('1/6 verified backup');
{
  const oursSamples = await repeat(fresh, () => ours('backup', '--kind', 'pre-rollout'));
  const theirs = hasSqlite3
    ? await repeat(fresh, () => sh(`sqlite3 ${db} ".backup ${work}/runbook.db" && sqlite3 ${work}/runbook.db "PRAGMA integrity_check" && md5sum ${db} ${work}/runbook.db > /dev/null`))
    : null;
  rows.push({ task: 'verified backup', ours: oursSamples, theirs, theirsLabel: 'sqlite3 .backup + integrity_check + md5sum', target: '≤ 0.5x' });
}

// 2. Full restore.
log('2/6 full restore');
{
  await fresh();
  await ours('backup', '--kind', 'manual');
  const backupFile = (await readdir(path.join(backups, 'manual'))).find((name) => name.endsWith('.db'))!;
  const backupPath = path.join(backups, 'manual', backupFile);
  const keep = path.join(work, 'keep-backup.db');
  await copyFile(backupPath, keep);
  await copyFile(`${backupPath}.manifest.json`, `${keep}.manifest.json`);
  const reset = async () => {
    for (const suffix of ['', '-wal', '-shm']) await rm(`${db}${suffix}`, { force: true });
    await copyFile(source, db);
    for (const name of await readdir(work)) if (name.startsWith('database.db.pre-restore.')) await rm(path.join(work, name));
  };
  const oursSamples = await repeat(reset, () => measure('node', [BIN, 'restore', keep, '--yes', '--db', db, '--backup-dir', backups]));
  const theirs = hasSqlite3
    ? await repeat(reset, () =>
        sh(`sqlite3 ${db} "PRAGMA integrity_check" > /dev/null; mv ${db} ${db}.old && cp ${keep} ${db} && sqlite3 ${db} "PRAGMA integrity_check" && sqlite3 ${db} "SELECT COUNT(*) FROM universe" > /dev/null; rm -f ${db}.old`),
      )
    : null;
  rows.push({ task: 'full restore', ours: oursSamples, theirs, theirsLabel: 'integrity_check, mv, cp, integrity_check, smoke', target: '≤ 0.33x' });
}

// 3. Nothing pending.
log('3/6 nothing pending');
{
  await fresh();
  await ours('migrate');
  // Inside the repo: the knex CLI insists on finding a local knex install from its folder.
  const knexDir = path.join(REPO, 'bench', '.knex-work');
  await rm(knexDir, { recursive: true, force: true });
  await mkdir(path.join(knexDir, 'migrations'), { recursive: true });
  for (const name of await readdir(migrations)) {
    const target = path.join(migrations, name);
    await writeFile(
      path.join(knexDir, 'migrations', name.replace(/\.ts$/, '.mjs')),
      `import { up as u, down as d } from ${JSON.stringify(target)};\nexport const up = (knex) => u({ context: knex });\nexport const down = (knex) => d({ context: knex });\n`,
    );
  }
  await writeFile(
    path.join(knexDir, 'knexfile.mjs'),
    `export default { client: 'sqlite3', connection: { filename: ${JSON.stringify(path.join(knexDir, 'knex.db'))} }, useNullAsDefault: true, migrations: { directory: ${JSON.stringify(path.join(knexDir, 'migrations'))}, loadExtensions: ['.mjs'] } };\n`,
  );
  // Absolute: `--import tsx` would be resolved from the knex folder, which has no node_modules.
  const knexCli = ['--import', pathToFileURL(path.join(REPO, 'node_modules/tsx/dist/loader.mjs')).href, path.join(REPO, 'node_modules/knex/bin/cli.js'), 'migrate:latest', '--knexfile', path.join(knexDir, 'knexfile.mjs')];
  await measure('node', knexCli, { cwd: knexDir });
  const oursSamples = await repeat(null, () => ours('migrate'));
  const theirs = await repeat(null, () => measure('node', knexCli, { cwd: knexDir }));
  rows.push({ task: 'migrate, nothing pending', ours: oursSamples, theirs, theirsLabel: 'knex migrate:latest, nothing pending', target: '≤ 1.2x' });
}

// 4. One trivial migration, end to end.
log('4/6 one trivial migration');
{
  const oursSamples = await repeat(fresh, () =>
    measure('node', [BIN, 'migrate', '--db', db, '--backup-dir', backups, '--migrations', migrationsPlusOne]),
  );
  const theirs = hasSqlite3 ? await repeat(fresh, () => sh(`cp ${db} ${work}/floor.db && sqlite3 ${work}/floor.db "PRAGMA integrity_check"`)) : null;
  rows.push({ task: 'migrate, one trivial migration', ours: oursSamples, theirs, theirsLabel: 'cp + integrity_check (the floor)', target: '≤ 1.3x' });
}

// 5. Dry run.
log('5/6 dry run');
{
  await fresh();
  const oursSamples = await repeat(null, () =>
    measure('node', [BIN, 'migrate', '--dry-run', '--db', db, '--backup-dir', backups, '--migrations', migrationsPlusOne]),
  );
  const theirs = await repeat(null, () => sh(`cp ${db} ${work}/copy.db`));
  rows.push({ task: 'migrate --dry-run', ours: oursSamples, theirs, theirsLabel: 'cp of the file', target: '≤ 2x' });
}

// 6. Hot backup under a writer.
log('6/6 hot backup under a writer');
let worstStallMs = 0;
{
  await fresh();
  const connection = await SqliteConnection.open(db, 'readwrite');
  await connection.exec('PRAGMA journal_mode = WAL');
  await connection.close();
  const stop = path.join(work, 'stop-writer');
  await rm(stop, { force: true });
  const writer = execa('node', ['-e', `
    const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
    const fs = require('node:fs');
    const db = new sqlite3.Database(${JSON.stringify(db)});
    db.configure('busyTimeout', 60000);
    const run = (sql) => new Promise((resolve, reject) => db.exec(sql, (e) => (e ? reject(e) : resolve())));
    (async () => {
      let worst = 0;
      console.log('ready');
      while (!fs.existsSync(${JSON.stringify(stop)})) {
        const t = performance.now();
        await run("INSERT INTO holidays (date, exchange, name) VALUES (date('now'), 'X' || abs(random()), 'bench')");
        worst = Math.max(worst, performance.now() - t);
        await new Promise((r) => setTimeout(r, 5));
      }
      console.log(JSON.stringify({ worst }));
    })();
  `], { reject: false });
  await new Promise<void>((resolve) => writer.stdout!.once('data', () => resolve()));
  const oursSamples = await repeat(null, () => ours('backup', '--kind', 'hot'));
  await writeFile(stop, '');
  const result = await writer;
  worstStallMs = Math.round(JSON.parse(result.stdout.trim().split('\n').at(-1)!).worst);
  rows.push({ task: `hot backup, writer's worst stall ${worstStallMs} ms`, ours: oursSamples, theirs: null, theirsLabel: '(target: stall < 200 ms)', target: '< 200 ms' });
}

// 7. Peak RSS at a second size.
log('7/7 memory at a smaller size');
const smallDb = path.join(path.dirname(small), 'database.db');
await copyFile(small, smallDb);
const smallBackup = await measure('node', [BIN, 'backup', '--db', smallDb, '--backup-dir', path.join(path.dirname(small), 'backups')]);
await rm(path.join(path.dirname(small), 'backups'), { recursive: true, force: true });

const version = (await SqliteConnection.open(':memory:', 'create').then(async (c) => { const v = await c.get<{ v: string }>('SELECT sqlite_version() AS v'); await c.close(); return v?.v; })) ?? '?';
const fmt = (s: number) => `${s.toFixed(2)} s`;
const lines = [
  `# migrate-guard benchmark`,
  '',
  `${new Date().toISOString()} · ${cpus().length} cores (${cpus()[0]?.model ?? '?'}) · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · SQLite ${version} · Node ${process.version}`,
  `database: ${(bytes / 2 ** 20).toFixed(0)} MiB (DMS schema, ${sizeMb} MB requested) · median of ${repeats} runs${hasSqlite3 ? '' : ' · sqlite3 CLI not found: runbook rows skipped'}`,
  '',
  '| task | ours | theirs | ratio | target | ours peak RSS | theirs |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((row) => {
    const o = median(row.ours);
    const t = row.theirs ? median(row.theirs) : null;
    return `| ${row.task} | ${fmt(o.seconds)} | ${t ? fmt(t.seconds) : '-'} | ${t ? `${(o.seconds / t.seconds).toFixed(2)}x` : '-'} | ${row.target} | ${(maxRss(row.ours) / 1024).toFixed(0)} MiB | ${row.theirsLabel} |`;
  }),
  '',
  `Peak RSS of \`backup\`: ${(maxRss(rows[0]!.ours) / 1024).toFixed(0)} MiB at ${(bytes / 2 ** 20).toFixed(0)} MiB, ${((smallBackup.rssKb ?? 0) / 1024).toFixed(0)} MiB at ${((await stat(small)).size / 2 ** 20).toFixed(0)} MiB.`,
];
const table = lines.join('\n');
console.log(table);
await writeFile(path.join(REPO, 'bench/results.md'), `${table}\n`);
