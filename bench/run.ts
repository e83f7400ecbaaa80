/**
 * `npm run bench [-- --size-mb N] [--repeats R]`: migrate-guard against the runbook's shell
 * procedures and plain knex, side by side in one run, medians of R runs, ratios ours / theirs.
 * Writes bench/results.md. Not a CI test: CI runs it at a tiny size to keep it working.
 */
import { execa } from 'execa';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { SqliteConnection } from '../src/engines/sqlite/connection.ts';
import { appBeside, type AppWait } from './app-beside.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO, 'bin/migrate-guard.js');
const { values } = parseArgs({ options: { 'size-mb': { type: 'string', default: '1000' }, repeats: { type: 'string', default: '3' } } });
const sizeMb = Number(values['size-mb']);
const repeats = Number(values.repeats);
const work = path.join(tmpdir(), `migrate-guard-bench-${sizeMb}mb`);
const hasSqlite3 = (await execa('sqlite3', ['--version'], { reject: false })).exitCode === 0;

interface Sample {
  readonly seconds: number;
  /** Peak resident memory, and the part of it that is the process's own (RssAnon), in KiB. */
  readonly rssKb: number | null;
  readonly anonKb: number | null;
}

/** Peak VmHWM and RssAnon of a process, read from /proc every 20 ms while it runs (Linux). */
function sampleMemory(pid: number | undefined): () => { rssKb: number | null; anonKb: number | null } {
  let rssKb: number | null = null;
  let anonKb: number | null = null;
  const read = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    if (!Number.isNaN(field('VmHWM'))) rssKb = Math.max(rssKb ?? 0, field('VmHWM'));
    if (!Number.isNaN(field('RssAnon'))) anonKb = Math.max(anonKb ?? 0, field('RssAnon'));
  };
  const timer = pid === undefined ? null : setInterval(() => void read(), 20);
  return () => {
    if (timer) clearInterval(timer);
    return { rssKb, anonKb };
  };
}

/** Runs a command, times it, and samples its memory; `expectExit` is the exit code it must end with. */
async function measure(command: string, args: readonly string[], options: { cwd?: string; expectExit?: number } = {}): Promise<Sample> {
  const started = performance.now();
  const child = execa(command, [...args], { cwd: options.cwd ?? work, reject: false, stdin: 'ignore' });
  const stop = sampleMemory(child.pid);
  const result = await child;
  const seconds = (performance.now() - started) / 1000;
  const memory = stop();
  if (result.exitCode !== (options.expectExit ?? 0)) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.exitCode}, expected ${options.expectExit ?? 0}: ${result.stderr.slice(-500)}`,
    );
  }
  return { seconds, ...memory };
}

const sh = (script: string) => measure('bash', ['-c', script]);
const median = (samples: readonly Sample[]) => [...samples].sort((a, b) => a.seconds - b.seconds)[Math.floor(samples.length / 2)]!;
const maxOf = (samples: readonly Sample[], key: 'rssKb' | 'anonKb') => Math.max(...samples.map((s) => s[key] ?? 0));

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
/** Changes the schema and a thousand rows, then fails at its very end: the run must undo all of it. */
const failingMigration = `import type { Knex } from 'knex';
export async function up({ context: knex }: { context: Knex }) {
  await knex.schema.alterTable('accounts', (t) => { t.text('memo'); });
  await knex('trades').where('id', '<=', 1000).update({ note: 'rewritten by a migration that fails' });
  throw new Error('the last statement of this migration fails');
}
`;

await mkdir(work, { recursive: true });
const source = path.join(work, 'source.db');
await ensureDatabase(source, sizeMb);
const smallMb = Math.max(10, Math.round(sizeMb / 10));
const small = path.join(tmpdir(), `migrate-guard-bench-${smallMb}mb`, 'source.db');
await mkdir(path.dirname(small), { recursive: true });
await ensureDatabase(small, smallMb);

const db = path.join(work, 'database.db');
const backups = path.join(work, 'backups');
const folder = (name: string) => path.join(work, name);
const migrations = folder('migrations');
const migrationsPlusOne = folder('migrations-plus-one');
const migrationsPlusFailing = folder('migrations-plus-failing');
for (const dir of [migrations, migrationsPlusOne, migrationsPlusFailing]) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  for (const name of await readdir(path.join(REPO, 'migrations')))
    await copyFile(path.join(REPO, 'migrations', name), path.join(dir, name));
}
await writeFile(path.join(migrationsPlusOne, '29990101000000_add_account_memo.ts'), trivialMigration);
await writeFile(path.join(migrationsPlusFailing, '29990101000000_fails_at_its_end.ts'), failingMigration);
const fresh = async () => {
  await rm(backups, { recursive: true, force: true });
  for (const suffix of ['', '-wal', '-shm']) await rm(`${db}${suffix}`, { force: true });
  await copyFile(source, db);
};
const ours = (...args: string[]) => measure('node', [BIN, ...args, '--db', db, '--backup-dir', backups, '--migrations', migrations]);
const bytes = (await stat(source)).size;
const rows: { task: string; ours: Sample[]; theirs: Sample[] | null; theirsLabel: string; target: string }[] = [];
const log = (text: string) => console.error(text);
const floor = () => sh(`cp ${db} ${work}/floor.db && sqlite3 ${work}/floor.db "PRAGMA integrity_check"`);

log('1/8 verified backup');
{
  const oursSamples = await repeat(fresh, () => ours('backup', '--kind', 'pre-rollout'));
  const theirs = hasSqlite3
    ? await repeat(fresh, () =>
        sh(
          `sqlite3 ${db} ".backup ${work}/runbook.db" && sqlite3 ${work}/runbook.db "PRAGMA integrity_check" && md5sum ${db} ${work}/runbook.db > /dev/null`,
        ),
      )
    : null;
  rows.push({
    task: 'verified backup',
    ours: oursSamples,
    theirs,
    theirsLabel: 'sqlite3 .backup + integrity_check + md5sum',
    target: '≤ 0.5x',
  });
}

log('2/8 full restore');
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
        sh(
          `sqlite3 ${db} "PRAGMA integrity_check" > /dev/null; mv ${db} ${db}.old && cp ${keep} ${db} && sqlite3 ${db} "PRAGMA integrity_check" && sqlite3 ${db} "SELECT COUNT(*) FROM universe" > /dev/null; rm -f ${db}.old`,
        ),
      )
    : null;
  rows.push({
    task: 'full restore',
    ours: oursSamples,
    theirs,
    theirsLabel: 'integrity_check, mv, cp, integrity_check, smoke',
    target: '≤ 0.33x',
  });
}

log('3/8 nothing pending');
{
  // The adopter's case: a knex project with plain JavaScript migrations and its knexfile, where
  // `npm run migrate` was `knex migrate:latest` and is now `migrate-guard migrate` (knex's own
  // history, read from the same knex_migrations table). Inside the repo: the knex CLI insists on
  // finding a local knex install from its folder.
  const knexDir = path.join(REPO, 'bench', '.knex-work');
  await rm(knexDir, { recursive: true, force: true });
  await mkdir(path.join(knexDir, 'migrations'), { recursive: true });
  for (const name of await readdir(migrations)) {
    const script = ts.transpileModule(await readFile(path.join(migrations, name), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    // knex's signature, as a knex project writes it: up(knex).
    const knexStyle = `${script}\nconst umzugUp = exports.up, umzugDown = exports.down;\nexports.up = (knex) => umzugUp({ context: knex });\nexports.down = (knex) => umzugDown({ context: knex });\n`;
    await writeFile(path.join(knexDir, 'migrations', name.replace(/\.ts$/, '.js')), knexStyle);
  }
  await writeFile(
    path.join(knexDir, 'knexfile.js'),
    `module.exports = { client: 'sqlite3', connection: { filename: ${JSON.stringify(path.join(knexDir, 'knex.db'))} }, useNullAsDefault: true, migrations: { directory: './migrations' } };\n`,
  );
  await writeFile(path.join(knexDir, 'package.json'), '{ "private": true }\n');
  const knexCli = [path.join(REPO, 'node_modules/knex/bin/cli.js'), 'migrate:latest', '--knexfile', path.join(knexDir, 'knexfile.js')];
  await measure('node', knexCli, { cwd: knexDir });
  const oursCli = [BIN, 'migrate'];
  await measure('node', oursCli, { cwd: knexDir });
  const oursSamples = await repeat(null, () => measure('node', oursCli, { cwd: knexDir }));
  const theirs = await repeat(null, () => measure('node', knexCli, { cwd: knexDir }));
  rows.push({
    task: 'migrate, nothing pending (a knex project)',
    ours: oursSamples,
    theirs,
    theirsLabel: 'knex migrate:latest, nothing pending',
    target: '≤ 1.0x',
  });
}

log('4/8 one trivial migration');
{
  const oursSamples = await repeat(fresh, () =>
    measure('node', [BIN, 'migrate', '--db', db, '--backup-dir', backups, '--migrations', migrationsPlusOne]),
  );
  const theirs = hasSqlite3 ? await repeat(fresh, floor) : null;
  rows.push({
    task: 'migrate, one trivial migration',
    ours: oursSamples,
    theirs,
    theirsLabel: 'cp + integrity_check (the floor)',
    target: '≤ 0.8x',
  });
}

log('5/8 one migration that fails at its end');
{
  const oursSamples = await repeat(fresh, () =>
    measure('node', [BIN, 'migrate', '--db', db, '--backup-dir', backups, '--migrations', migrationsPlusFailing], { expectExit: 2 }),
  );
  const theirs = hasSqlite3 ? await repeat(fresh, floor) : null;
  rows.push({
    task: 'migrate, one migration that fails at its end (exit 2)',
    ours: oursSamples,
    theirs,
    theirsLabel: 'cp + integrity_check (the floor)',
    target: '≤ 0.5x',
  });
}

log('6/8 dry run');
{
  await fresh();
  const oursSamples = await repeat(null, () =>
    measure('node', [BIN, 'migrate', '--dry-run', '--db', db, '--backup-dir', backups, '--migrations', migrationsPlusOne]),
  );
  const theirs = hasSqlite3
    ? await repeat(null, () => sh(`cp ${db} ${work}/copy.db && sqlite3 ${work}/copy.db "PRAGMA quick_check" > /dev/null`))
    : null;
  rows.push({
    task: 'migrate --dry-run',
    ours: oursSamples,
    theirs,
    theirsLabel: "cp + quick_check (a rehearsal's least)",
    target: '≤ 3x',
  });
}

log('7/8 hot backup under a writer');
let worstStallMs = 0;
{
  await fresh();
  const connection = await SqliteConnection.open(db, 'readwrite');
  await connection.exec('PRAGMA journal_mode = WAL');
  await connection.close();
  const stop = path.join(work, 'stop-writer');
  await rm(stop, { force: true });
  const writer = execa(
    'node',
    [
      '-e',
      `
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
  `,
    ],
    { reject: false },
  );
  await new Promise<void>((resolve) => writer.stdout!.once('data', () => resolve()));
  const oursSamples = await repeat(null, () => ours('backup', '--kind', 'hot'));
  await writeFile(stop, '');
  const result = await writer;
  worstStallMs = Math.round(JSON.parse(result.stdout.trim().split('\n').at(-1)!).worst);
  rows.push({
    task: `hot backup, writer's worst stall ${worstStallMs} ms`,
    ours: oursSamples,
    theirs: null,
    theirsLabel: '(target: stall < 200 ms)',
    target: '< 200 ms',
  });
}

// Issue 18: what the application feels while a trivial rollout runs, beside plain knex running
// the same migration on the same database (its own history table, so it runs just that one).
const liveKnexDir = path.join(REPO, 'bench', '.knex-live');
await rm(liveKnexDir, { recursive: true, force: true });
await mkdir(path.join(liveKnexDir, 'migrations'), { recursive: true });
await writeFile(path.join(liveKnexDir, 'package.json'), '{ "private": true }\n');
await writeFile(
  path.join(liveKnexDir, 'migrations', '29990101000000_add_account_memo.js'),
  "exports.up = (knex) => knex.schema.alterTable('accounts', (t) => { t.text('memo'); });\nexports.down = (knex) => knex.schema.alterTable('accounts', (t) => { t.dropColumn('memo'); });\n",
);
const liveKnexfile = async (name: string, client: string, connection: unknown) => {
  const file = path.join(liveKnexDir, name);
  await writeFile(
    file,
    `module.exports = { client: ${JSON.stringify(client)}, connection: ${JSON.stringify(connection)}, useNullAsDefault: true, migrations: { directory: './migrations', tableName: 'knex_live_bench' } };\n`,
  );
  return [path.join(REPO, 'node_modules/knex/bin/cli.js'), 'migrate:latest', '--knexfile', file];
};
const asSample = (wait: AppWait): Sample => ({ seconds: wait.worstMs / 1000, rssKb: null, anonKb: null });
const liveRow = (engine: string, ours: AppWait, theirs: AppWait, target: string) =>
  rows.push({
    task: `${engine}: the application's worst wait during a trivial rollout (failed: ${ours.failed} beside ours, ${theirs.failed} beside knex)`,
    ours: [asSample(ours)],
    theirs: [asSample(theirs)],
    theirsLabel: 'the same application beside knex migrate:latest',
    target,
  });

log('live rollout: the application beside migrate (SQLite, WAL)');
{
  const walFresh = async () => {
    await fresh();
    const connection = await SqliteConnection.open(db, 'readwrite');
    await connection.exec('PRAGMA journal_mode = WAL');
    await connection.close();
  };
  const app = { repo: REPO, work, engine: 'sqlite' as const, database: db };
  await walFresh();
  const oursWait = await appBeside(app, () =>
    measure('node', [BIN, 'migrate', '--db', db, '--backup-dir', backups, '--migrations', migrationsPlusOne]),
  );
  await walFresh();
  const knexCli = await liveKnexfile('knexfile-sqlite.js', 'sqlite3', { filename: db });
  const theirsWait = await appBeside(app, () => measure('node', knexCli, { cwd: liveKnexDir }));
  liveRow('SQLite (WAL, busy_timeout 5 s)', oursWait, theirsWait, '≤ 1.5 s, no failed write');
}

log('PostgreSQL rows');
const pgServer = process.env.MIGRATE_GUARD_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pgReady = (await execa('pg_isready', ['-d', pgServer, '-q'], { reject: false })).exitCode === 0;
if (pgReady) {
  const pgUrl = pgServer.replace(/\/[^/]*$/, `/mg_bench_${sizeMb}mb`);
  const populated = await execa('psql', ['-d', pgUrl, '-tAc', 'SELECT COUNT(*) > 0 FROM trades'], { reject: false });
  if (populated.stdout.trim() !== 't') {
    log(`generating a ${sizeMb} MB DMS database on PostgreSQL (once; reused by later runs)…`);
    await execa('node', ['--import', 'tsx', path.join(REPO, 'bench/make-large-pg.ts'), pgUrl, String(sizeMb)], {
      cwd: REPO,
      stdio: 'inherit',
    });
  }
  const pgBackups = folder('pg-backups');
  const scratchUrl = pgServer.replace(/\/[^/]*$/, '/mg_bench_runbook_scratch');
  const pgRunbook = () =>
    sh(
      `pg_dump -Fc -f ${work}/runbook.dump -d ${pgUrl} && psql -q -d ${pgServer} -c "DROP DATABASE IF EXISTS mg_bench_runbook_scratch" -c "CREATE DATABASE mg_bench_runbook_scratch" && pg_restore --single-transaction --exit-on-error --no-owner -d ${scratchUrl} ${work}/runbook.dump && psql -q -d ${pgServer} -c "DROP DATABASE mg_bench_runbook_scratch"`,
    );
  const clearBackups = () => rm(pgBackups, { recursive: true, force: true });
  const oursBackup = await repeat(clearBackups, () =>
    measure('node', [BIN, 'backup', '--kind', 'pre-rollout', '--db', pgUrl, '--backup-dir', pgBackups]),
  );
  const theirsBackup = await repeat(null, pgRunbook);
  rows.push({
    task: 'PostgreSQL: verified backup',
    ours: oursBackup,
    theirs: theirsBackup,
    theirsLabel: 'pg_dump -Fc, then pg_restore into a scratch database',
    target: '≤ 0.8x',
  });
  const revert = async () => {
    await clearBackups();
    await execa('psql', [
      '-q',
      '-d',
      pgUrl,
      '-c',
      'ALTER TABLE accounts DROP COLUMN IF EXISTS memo',
      '-c',
      "DELETE FROM migrate_guard_migrations WHERE name = '29990101000000_add_account_memo'",
    ]);
  };
  const oursRollout = await repeat(revert, () =>
    measure('node', [BIN, 'migrate', '--db', pgUrl, '--backup-dir', pgBackups, '--migrations', migrationsPlusOne]),
  );
  await revert();
  const app = { repo: REPO, work, engine: 'postgres' as const, database: pgUrl };
  const oursWait = await appBeside(app, () =>
    measure('node', [BIN, 'migrate', '--db', pgUrl, '--backup-dir', pgBackups, '--migrations', migrationsPlusOne]),
  );
  await revert();
  const knexCli = await liveKnexfile('knexfile-pg.js', 'pg', pgUrl);
  const theirsWait = await appBeside(app, () => measure('node', knexCli, { cwd: liveKnexDir }));
  await revert();
  await execa('psql', ['-q', '-d', pgUrl, '-c', 'DROP TABLE IF EXISTS knex_live_bench, knex_live_bench_lock']);
  liveRow('PostgreSQL (reads and updates by key)', oursWait, theirsWait, '≤ 0.5 s, no failed query');
  rows.push({
    task: 'PostgreSQL: migrate, one trivial migration',
    ours: oursRollout,
    theirs: theirsBackup,
    theirsLabel: 'the backup runbook above (a rollout needs its backup proven)',
    target: '-',
  });
} else {
  log(`no PostgreSQL server at ${pgServer}: PostgreSQL rows skipped`);
}

log('MySQL/MariaDB rows');
const myServer = process.env.MIGRATE_GUARD_BENCH_MYSQL ?? 'mysql://root@127.0.0.1:3306';
const myTool = async (names: readonly string[]) => {
  for (const name of names) if ((await execa(name, ['--version'], { reject: false })).exitCode === 0) return name;
  return null;
};
const myDump = await myTool(['mariadb-dump', 'mysqldump']);
const myClient = await myTool(['mariadb', 'mysql']);
const myReady =
  myDump !== null &&
  myClient !== null &&
  (await execa(myClient, ['--no-defaults', ...myArgs(), '-e', 'SELECT 1'], { reject: false })).exitCode === 0;
/** The client tools' connection options for the bench server (its password, if any, through MYSQL_PWD). */
function myArgs(): string[] {
  const url = new URL(myServer);
  return [`--host=${url.hostname}`, `--port=${url.port || 3306}`, '--protocol=TCP', `--user=${decodeURIComponent(url.username || 'root')}`];
}
if (myReady) {
  const myDb = `mg_bench_${sizeMb}mb`;
  const myUrl = `${myServer}/${myDb}`;
  const args = myArgs().join(' ');
  const populated = await execa(myClient, ['--no-defaults', ...myArgs(), '-N', '-e', `SELECT COUNT(*) > 0 FROM \`${myDb}\`.trades`], {
    reject: false,
  });
  if (populated.stdout.trim() !== '1') {
    log(`generating a ${sizeMb} MB DMS database on MySQL/MariaDB (once; reused by later runs)…`);
    await execa('node', ['--import', 'tsx', path.join(REPO, 'bench/make-large-mysql.ts'), myUrl, String(sizeMb)], {
      cwd: REPO,
      stdio: 'inherit',
    });
  }
  const myBackups = folder('mysql-backups');
  const clearBackups = () => rm(myBackups, { recursive: true, force: true });
  // The runbook: a consistent dump, gzipped, proven by loading it into a scratch database.
  const myRunbook = () =>
    sh(
      `${myDump} --no-defaults ${args} --single-transaction --routines --triggers --events --hex-blob ${myDb} | gzip > ${work}/runbook.sql.gz && ${myClient} --no-defaults ${args} -e "DROP DATABASE IF EXISTS mg_bench_runbook_scratch; CREATE DATABASE mg_bench_runbook_scratch" && gunzip -c ${work}/runbook.sql.gz | ${myClient} --no-defaults ${args} mg_bench_runbook_scratch && ${myClient} --no-defaults ${args} -e "DROP DATABASE mg_bench_runbook_scratch"`,
    );
  const oursBackup = await repeat(clearBackups, () =>
    measure('node', [BIN, 'backup', '--kind', 'pre-rollout', '--db', myUrl, '--backup-dir', myBackups]),
  );
  const oursCompressed = await repeat(clearBackups, () =>
    measure('node', [BIN, 'backup', '--kind', 'pre-rollout', '--compress', '--db', myUrl, '--backup-dir', myBackups]),
  );
  const theirsBackup = await repeat(null, myRunbook);
  rows.push({
    task: 'MySQL/MariaDB: verified backup',
    ours: oursBackup,
    theirs: theirsBackup,
    theirsLabel: 'mariadb-dump --single-transaction piped to gzip, then a load into a scratch database',
    target: '≤ 0.8x',
  });
  rows.push({
    task: 'MySQL/MariaDB: verified backup, --compress',
    ours: oursCompressed,
    theirs: theirsBackup,
    theirsLabel: 'the same runbook',
    target: '≤ 0.8x',
  });
  // Two DDL statements and a thousand rows, then a failure: the run restores the backup and proves it (exit 2).
  const migrationsPlusTwoDdl = folder('migrations-plus-two-ddl');
  await rm(migrationsPlusTwoDdl, { recursive: true, force: true });
  await mkdir(migrationsPlusTwoDdl);
  for (const name of await readdir(migrations)) await copyFile(path.join(migrations, name), path.join(migrationsPlusTwoDdl, name));
  await writeFile(
    path.join(migrationsPlusTwoDdl, '29990101000000_two_ddl_then_fails.ts'),
    `import type { Knex } from 'knex';
export async function up({ context: knex }: { context: Knex }) {
  await knex.schema.createTable('bench_half_done', (t) => { t.increments('id'); });
  await knex.schema.alterTable('accounts', (t) => { t.text('memo'); });
  await knex('trades').where('id', '<=', 1000).update({ note: 'rewritten by a migration that fails' });
  throw new Error('the last statement of this migration fails');
}
`,
  );
  const oursFailed = await repeat(clearBackups, () =>
    measure('node', [BIN, 'migrate', '--db', myUrl, '--backup-dir', myBackups, '--migrations', migrationsPlusTwoDdl], { expectExit: 2 }),
  );
  // By hand: the runbook's backup, then (the migration failed) the dump loaded back over the database.
  const theirsFailed = await repeat(null, () =>
    sh(
      `${myDump} --no-defaults ${args} --single-transaction --routines --triggers --events --hex-blob ${myDb} | gzip > ${work}/runbook.sql.gz && gunzip -c ${work}/runbook.sql.gz | ${myClient} --no-defaults ${args} ${myDb}`,
    ),
  );
  await clearBackups();
  rows.push({
    task: 'MySQL/MariaDB: migrate, a two-DDL migration fails, restored and proven',
    ours: oursFailed,
    theirs: theirsFailed,
    theirsLabel: 'mariadb-dump piped to gzip, then the dump loaded back (no proof)',
    target: '-',
  });
} else {
  log(`no MySQL/MariaDB server (or client tools) at ${myServer}: MySQL/MariaDB rows skipped`);
}

log('8/8 memory of a rollout at a smaller size');
const smallDb = path.join(path.dirname(small), 'database.db');
const smallBackups = path.join(path.dirname(small), 'backups');
await rm(smallBackups, { recursive: true, force: true });
await copyFile(small, smallDb);
const smallRollout = await measure('node', [
  BIN,
  'migrate',
  '--db',
  smallDb,
  '--backup-dir',
  smallBackups,
  '--migrations',
  migrationsPlusOne,
]);
await rm(smallBackups, { recursive: true, force: true });

const version =
  (await SqliteConnection.open(':memory:', 'create').then(async (c) => {
    const v = await c.get<{ v: string }>('SELECT sqlite_version() AS v');
    await c.close();
    return v?.v;
  })) ?? '?';
const fmt = (s: number) => `${s.toFixed(2)} s`;
const mib = (kb: number | null) => (kb === null ? '-' : `${(kb / 1024).toFixed(0)} MiB`);
const rolloutRow = rows.find((row) => row.task === 'migrate, one trivial migration')!;
const lines = [
  `# migrate-guard benchmark`,
  '',
  `${new Date().toISOString()} · ${cpus().length} cores (${cpus()[0]?.model ?? '?'}) · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · SQLite ${version} · Node ${process.version}`,
  `database: ${(bytes / 2 ** 20).toFixed(0)} MiB (DMS schema, ${sizeMb} MB requested) · median of ${repeats} runs${hasSqlite3 ? '' : ' · sqlite3 CLI not found: runbook rows skipped'}${pgReady ? ' · PostgreSQL rows: a database of about the same size on the local server' : ''}`,
  '',
  '| task | ours | theirs | ratio | target | ours peak RSS | ours peak RssAnon | theirs |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((row) => {
    const o = median(row.ours);
    const t = row.theirs ? median(row.theirs) : null;
    return `| ${row.task} | ${fmt(o.seconds)} | ${t ? fmt(t.seconds) : '-'} | ${t ? `${(o.seconds / t.seconds).toFixed(2)}x` : '-'} | ${row.target} | ${mib(maxOf(row.ours, 'rssKb'))} | ${mib(maxOf(row.ours, 'anonKb'))} | ${row.theirsLabel} |`;
  }),
  '',
  `Peak private memory (RssAnon) of \`migrate\` with one trivial migration: ${mib(maxOf(rolloutRow.ours, 'anonKb'))} at ${(bytes / 2 ** 20).toFixed(0)} MiB, ${mib(smallRollout.anonKb)} at ${((await stat(small)).size / 2 ** 20).toFixed(0)} MiB (target ≤ 150 MiB, flat). Peak RSS also counts the file-backed pages of the mapped backup copy under proof (about the database's size): they belong to the OS's page cache, not to the process.`,
];
const table = lines.join('\n');
console.log(table);
await writeFile(path.join(REPO, 'bench/results.md'), `${table}\n`);
