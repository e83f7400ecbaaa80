import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, installApp, packTarball, run } from '../helpers/packed-app.ts';
import { dump, exec, parseReport, query, sha256, waitForFile } from '../helpers/project.ts';
import { knexMigration } from '../helpers/migrations.ts';
import { MY_SERVER, mysqlDatabase, type TestDatabase } from '../helpers/databases.ts';

/**
 * Projects that already migrate with knex or umzug adopt migrate-guard: the installed tarball in
 * apps of their own (knex, umzug and sqlite3 come with it), the real knex CLI beside it, real
 * SQLite files. Each app is one story, told in order by its tests.
 */

let work: string;
/** A CommonJS knex project (knexfile.js, `exports.up = function (knex)`). */
let knexApp: string;
/** An ES module project with its own Umzug (JSONStorage, a knex context). */
let umzugApp: string;
/** A knex project whose database was made by hand, without a history. */
let baselineApp: string;
/** A CommonJS knex project on MariaDB (`client: 'mysql2'`, as Kutt's knexfile). */
let mariadbApp: string;

/** Every call gets one: a CLI that does not exit (a project's knex pool, say) fails the test instead of hanging it. */
const TIMEOUT = { timeout: 60_000 };

/** What the knex apps run with: knexfile's `development` section, nothing from the outer shell. */
const KNEX_ENV = {
  NODE_ENV: 'development',
  DATABASE_URL: undefined,
  MIGRATIONS_DIR: undefined,
  BACKUP_DIR: undefined,
  MIGRATE_GUARD_CONFIG: undefined,
};

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'migrate-guard-adopt-'));
  const tarball = await packTarball(work);
  knexApp = path.join(work, 'knex-app');
  umzugApp = path.join(work, 'umzug-app');
  baselineApp = path.join(work, 'baseline-app');
  mariadbApp = path.join(work, 'mariadb-app');
  await Promise.all([
    installApp(tarball.file, mariadbApp, { name: 'mariadb-app', private: true }),
    installApp(tarball.file, knexApp, { name: 'knex-app', private: true }),
    installApp(tarball.file, umzugApp, { name: 'umzug-app', private: true, type: 'module' }),
    installApp(tarball.file, baselineApp, { name: 'baseline-app', private: true }),
  ]);
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [file, source] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), source);
  }
}

/** The CLI's `--json` report, after checking the exit code (the output is the failure message). */
async function reportOf(result: Awaited<ReturnType<typeof cli>>, exitCode: number): Promise<Record<string, any>> {
  expect(result.exitCode, result.all).toBe(exitCode);
  return parseReport(result.stdout);
}

/** Until a running migration wrote its marker file; fails at once if the CLI ended first. */
async function untilMigrationWaits(marker: string, running: ReturnType<typeof run>): Promise<void> {
  await Promise.race([
    waitForFile(marker),
    running.then((result) => {
      throw new Error(`migrate-guard ended before its migration started: ${result.all}`);
    }),
  ]);
}

const knexCli = (app: string, args: readonly string[]) => run('node', ['node_modules/knex/bin/cli.js', ...args], app, KNEX_ENV, TIMEOUT);

/** What knex itself says is completed and pending (`knex.migrate.list()`, as `knex migrate:status` prints it). */
async function knexList(app: string): Promise<{ completed: string[]; pending: string[] }> {
  const script = `
    const knex = require('knex')(require('./knexfile.js').development);
    knex.migrate.list().then(async ([completed, pending]) => {
      console.log(JSON.stringify({ completed: completed.map((m) => m.name), pending: pending.map((m) => m.file) }));
      await knex.destroy();
    });`;
  const result = await run('node', ['-e', script], app, KNEX_ENV, TIMEOUT);
  expect(result.exitCode, result.all).toBe(0);
  return JSON.parse(result.stdout) as { completed: string[]; pending: string[] };
}

const KNEXFILE = `module.exports = {
  development: {
    client: 'sqlite3',
    connection: { filename: './dev.sqlite3' },
    useNullAsDefault: true,
    migrations: { directory: './migrations' },
  },
};
`;

const ACCOUNTS = '20240101000000_accounts.js';
const NOTES = '20240102000000_notes.js';
const TAGS = '20240103000000_tags.js';

const KNEX_PROJECT = {
  'knexfile.js': KNEXFILE,
  [`migrations/${ACCOUNTS}`]: knexMigration(
    'accounts',
    "t.string('name').notNullable();",
    "await knex('accounts').insert({ name: 'seeded by the migration' });",
  ),
  [`migrations/${NOTES}`]: knexMigration('notes', "t.integer('account_id').references('accounts.id'); t.text('body');"),
};
const TAGS_MIGRATION = knexMigration('tags', "t.string('label');", "await knex('tags').insert({ label: 'seeded' });");

interface KnexRow {
  id: number;
  name: string;
  batch: number;
  migration_time: number;
}

const knexRows = (db: string) => query<KnexRow>(db, 'SELECT * FROM knex_migrations ORDER BY id');
const isLocked = async (db: string) => (await query<{ is_locked: number }>(db, 'SELECT is_locked FROM knex_migrations_lock'))[0]?.is_locked;
const tables = async (db: string) =>
  (await query<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map(
    (row) => row.name,
  );

describe('an existing knex project adopts migrate-guard', () => {
  let db: string;
  /** knex_migrations as `knex migrate:latest` left it. */
  let knexHistory: KnexRow[];

  beforeAll(async () => {
    db = path.join(knexApp, 'dev.sqlite3');
    await writeFiles(knexApp, KNEX_PROJECT);
    const latest = await knexCli(knexApp, ['migrate:latest']);
    expect(latest.exitCode, latest.all).toBe(0);
    // The application's own rows.
    await exec(db, "INSERT INTO accounts (name) VALUES ('alice'), ('bob'); INSERT INTO notes (account_id, body) VALUES (2, 'hello');");
    knexHistory = await knexRows(db);
    expect(knexHistory.map((row) => [row.name, row.batch])).toEqual([
      [ACCOUNTS, 1],
      [NOTES, 1],
    ]);
  });

  it('status lists exactly the new migration as pending, named as knex names it', async () => {
    await writeFiles(knexApp, { [`migrations/${TAGS}`]: TAGS_MIGRATION });
    const status = await reportOf(await cli(knexApp, ['status', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(status.pending).toEqual([TAGS]);
    expect(status.applied).toEqual([
      expect.objectContaining({ name: ACCOUNTS, batch: 1, checksum: null, file: 'unchanged' }),
      expect.objectContaining({ name: NOTES, batch: 1, checksum: null, file: 'unchanged' }),
    ]);
    expect(status.database).toBe(db);
  });

  it("migrate applies only that one, into knex's table as batch 2, and knex sees nothing pending", async () => {
    const schemaBefore = await query(
      db,
      "SELECT sql FROM sqlite_master WHERE name IN ('knex_migrations', 'knex_migrations_lock') ORDER BY name",
    );
    const started = Date.now();
    const report = await reportOf(await cli(knexApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(report).toMatchObject({ database: db, applied: [TAGS], restored: false, failed: null });
    expect(report.backup).toMatch(/dev_pre-rollout_.*\.db$/);

    const rows = await knexRows(db);
    expect(rows.slice(0, 2)).toEqual(knexHistory);
    expect(rows[2]).toMatchObject({ id: 3, name: TAGS, batch: 2 });
    expect(rows[2]!.migration_time).toBeGreaterThanOrEqual(started);
    expect(rows[2]!.migration_time).toBeLessThanOrEqual(Date.now());
    // Stored as knex stores it (epoch milliseconds), so knex reads it back as it reads its own.
    expect(await query(db, 'SELECT DISTINCT typeof(migration_time) AS type FROM knex_migrations')).toEqual([{ type: 'integer' }]);
    // knex's tables keep exactly knex's columns; the checksum lives beside them.
    expect((await query<{ name: string }>(db, 'PRAGMA table_info(knex_migrations)')).map((column) => column.name)).toEqual([
      'id',
      'name',
      'batch',
      'migration_time',
    ]);
    expect(
      await query(db, "SELECT sql FROM sqlite_master WHERE name IN ('knex_migrations', 'knex_migrations_lock') ORDER BY name"),
    ).toEqual(schemaBefore);
    expect(await query(db, 'SELECT name, checksum FROM migrate_guard_checksums')).toEqual([
      { name: TAGS, checksum: await sha256(path.join(knexApp, 'migrations', TAGS)) },
    ]);
    expect(await isLocked(db)).toBe(0);
    expect(await query(db, 'SELECT label FROM tags')).toEqual([{ label: 'seeded' }]);
    expect(await query(db, 'SELECT name FROM accounts ORDER BY id')).toEqual([
      { name: 'seeded by the migration' },
      { name: 'alice' },
      { name: 'bob' },
    ]);

    const status = await knexCli(knexApp, ['migrate:status']);
    expect(status.exitCode, status.all).toBe(0);
    expect(status.stdout).toContain('No Pending Migration files Found.');
    expect(await knexList(knexApp)).toEqual({ completed: [ACCOUNTS, NOTES, TAGS], pending: [] });
  });

  it('knex migrate:rollback reverts what migrate-guard applied, and knex migrate:latest applies it again', async () => {
    const rollback = await knexCli(knexApp, ['migrate:rollback']);
    expect(rollback.exitCode, rollback.all).toBe(0);
    expect(await tables(db)).not.toContain('tags');
    expect(await knexRows(db)).toEqual(knexHistory);
    expect((await reportOf(await cli(knexApp, ['status', '--json'], KNEX_ENV, TIMEOUT), 0)).pending).toEqual([TAGS]);

    const latest = await knexCli(knexApp, ['migrate:latest']);
    expect(latest.exitCode, latest.all).toBe(0);
    expect((await knexRows(db)).map((row) => [row.name, row.batch])).toEqual([
      [ACCOUNTS, 1],
      [NOTES, 1],
      [TAGS, 2],
    ]);
    expect((await reportOf(await cli(knexApp, ['status', '--json'], KNEX_ENV, TIMEOUT), 0)).pending).toEqual([]);
  });

  it("a failing migration exits 2 and leaves knex's history, its lock and the data exactly as they were", async () => {
    const broken = '20240104000000_broken.js';
    // Outside a transaction (knex's `config`), so only the restore can undo what it wrote.
    await writeFiles(knexApp, {
      [`migrations/${broken}`]: `exports.config = { transaction: false };
exports.up = async function (knex) {
  await knex('accounts').insert({ name: 'written by the broken migration' });
  await knex('accounts').where({ name: 'alice' }).update({ name: 'ALICE' });
  await knex.schema.createTable('broken', (t) => { t.increments('id'); });
  throw new Error('the fourth migration fails');
};
exports.down = function () {};
`,
    });
    const before = await dump(db);
    const history = await knexRows(db);
    try {
      const report = await reportOf(await cli(knexApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 2);
      expect(report).toMatchObject({
        restored: true,
        applied: [],
        failed: { migration: broken, phase: 'migrate', message: 'the fourth migration fails' },
      });
      expect(await knexRows(db)).toEqual(history);
      expect(await dump(db)).toBe(before);
      expect(await isLocked(db)).toBe(0);
      expect((await knexList(knexApp)).pending).toEqual([broken]);
    } finally {
      await rm(path.join(knexApp, 'migrations', broken));
    }
  });

  it("holds knex's lock while it runs: knex migrate:latest fails meanwhile, and works once it is done", async () => {
    const waits = '20240105000000_waits.js';
    const marker = path.join(knexApp, 'waiting');
    const release = path.join(knexApp, 'release');
    await writeFiles(knexApp, {
      [`migrations/${waits}`]: `const fs = require('node:fs');
exports.up = async function (knex) {
  fs.writeFileSync(${JSON.stringify(marker)}, String(process.pid));
  const deadline = Date.now() + 60000;
  while (!fs.existsSync(${JSON.stringify(release)})) {
    if (Date.now() > deadline) throw new Error('never released');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await knex.schema.createTable('waited', (t) => { t.increments('id'); });
};
exports.down = function (knex) { return knex.schema.dropTable('waited'); };
`,
    });
    const history = await knexRows(db);
    const guarded = cli(knexApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT);
    await untilMigrationWaits(marker, guarded);
    expect(await isLocked(db)).toBe(1);

    const latest = await knexCli(knexApp, ['migrate:latest']);
    expect(latest.exitCode, latest.all).toBe(1);
    // Refused either by knex's lock row or, inside the run's transaction (BEGIN IMMEDIATE), by
    // SQLite's write lock before knex can even read the row: the same refusal, in knex's words.
    expect(latest.all).toMatch(/Migration table is already locked|Can't take lock to run migrations/);
    expect(await knexRows(db)).toEqual(history);

    await writeFile(release, '');
    const report = await reportOf(await guarded, 0);
    expect(report.applied).toEqual([waits]);
    expect(await isLocked(db)).toBe(0);
    expect((await knexRows(db)).at(-1)).toMatchObject({ name: waits, batch: 3 });
    expect(await knexList(knexApp)).toMatchObject({ pending: [] });
    // And knex can take its lock again.
    const again = await knexCli(knexApp, ['migrate:latest']);
    expect(again.exitCode, again.all).toBe(0);
  });

  it("down reverts what knex calls the last batch: both migrations of one run, one of them in umzug's style", async () => {
    const labels = '20240106000000_labels.js';
    const umzugStyle = '20240107000000_umzug_style.js';
    await writeFiles(knexApp, {
      [`migrations/${labels}`]: knexMigration('labels', "t.string('text');"),
      [`migrations/${umzugStyle}`]: `exports.up = async ({ context }) => {
  await context.schema.createTable('umzug_style', (t) => { t.increments('id'); t.string('via'); });
  await context('umzug_style').insert({ via: 'context' });
};
exports.down = async ({ context }) => {
  await context.schema.dropTable('umzug_style');
};
`,
    });
    try {
      const before = await dump(db);
      const history = await knexRows(db);
      const migrate = await reportOf(await cli(knexApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 0);
      expect(migrate.applied).toEqual([labels, umzugStyle]);
      expect((await knexRows(db)).slice(history.length).map((row) => [row.name, row.batch])).toEqual([
        [labels, 4],
        [umzugStyle, 4],
      ]);
      expect(await query(db, 'SELECT via FROM umzug_style')).toEqual([{ via: 'context' }]);

      const down = await reportOf(await cli(knexApp, ['down', '--json'], KNEX_ENV, TIMEOUT), 0);
      expect(down.reverted).toEqual([umzugStyle, labels]);
      expect(await knexRows(db)).toEqual(history);
      expect(await tables(db)).not.toContain('labels');
      expect(await tables(db)).not.toContain('umzug_style');
      expect((await knexList(knexApp)).pending).toEqual([labels, umzugStyle]);
      // Their checksums went with them; everything else is as before the migrate.
      expect(await dump(db)).toBe(before);
    } finally {
      // knex would call the umzug-style one with the Knex instance: it is migrate-guard's to run.
      await rm(path.join(knexApp, 'migrations', umzugStyle));
      await rm(path.join(knexApp, 'migrations', labels));
    }
  });

  // Regression (this test found it; src/history/knex-table.ts): the checksum row in migrate_guard_checksums outlives knex's
  // own row. `knex migrate:rollback` deletes only knex's row, so after the usual knex loop
  // (rollback, edit the migration, migrate:latest) the stale checksum of the old file is taken as
  // the applied one: status flags the migration as changed and migrate refuses (exit 1).
  it('a migration knex rolled back, edited and applied again is not taken for an edited one', async () => {
    const waits = '20240105000000_waits.js';
    const rollback = await knexCli(knexApp, ['migrate:rollback']);
    expect(rollback.exitCode, rollback.all).toBe(0);
    const file = path.join(knexApp, 'migrations', waits);
    await writeFile(file, (await readFile(file, 'utf8')).replace("t.increments('id');", "t.increments('id'); t.string('note');"));
    const latest = await knexCli(knexApp, ['migrate:latest']);
    expect(latest.exitCode, latest.all).toBe(0);
    expect(await knexList(knexApp)).toMatchObject({ pending: [] });

    const status = await reportOf(await cli(knexApp, ['status', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(status.changed).toEqual([]);
    await writeFiles(knexApp, { 'migrations/20240108000000_next.js': knexMigration('nexts', '') });
    const migrate = await reportOf(await cli(knexApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(migrate.applied).toEqual(['20240108000000_next.js']);
  });
});

describe('an umzug project with JSONStorage adopts migrate-guard', () => {
  let db: string;
  let storage: string;
  let env: Record<string, string | undefined>;

  /** An ES module umzug migration: `up({ context })` with the project's knex. */
  const umzugMigration = (body: string, down = '') => `export async function up({ context }) {
${body}
}
export async function down({ context }) {
${down}
}
`;

  beforeAll(async () => {
    db = path.join(umzugApp, 'app.db');
    storage = path.join(umzugApp, 'umzug.json');
    env = { ...KNEX_ENV, DATABASE_URL: db };
    await writeFiles(umzugApp, {
      // umzug calls a function-valued context to get the context, and a Knex instance is a
      // function: \`context: knex\` would hand the migrations \`knex()\` (umzug alone fails on it too).
      'umzug.mjs': `import knexFactory from 'knex';
import { JSONStorage, Umzug } from 'umzug';

const knex = knexFactory({ client: 'sqlite3', connection: { filename: process.env.DATABASE_URL }, useNullAsDefault: true });

export const umzug = new Umzug({
  migrations: { glob: ${JSON.stringify(path.join(umzugApp, 'umzug-migrations/*.js'))} },
  context: () => knex,
  storage: new JSONStorage({ path: ${JSON.stringify(storage)} }),
  logger: undefined,
});
`,
      'migrate-guard.config.mjs': "export default { umzug: './umzug.mjs' };\n",
      'umzug-migrations/001_items.js': umzugMigration(
        "  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); });\n  await context('items').insert({ name: 'first' });",
        "  await context.schema.dropTable('items');",
      ),
      'umzug-migrations/002_tags.js': umzugMigration(
        "  await context.schema.createTable('tags', (t) => { t.increments('id'); t.string('label'); });",
        "  await context.schema.dropTable('tags');",
      ),
    });
  });

  it("migrate runs the project's Umzug, which records them in its JSON storage (and the process exits)", async () => {
    const report = await reportOf(await cli(umzugApp, ['migrate', '--json'], env, TIMEOUT), 0);
    expect(report.applied).toEqual(['001_items.js', '002_tags.js']);
    expect(JSON.parse(await readFile(storage, 'utf8'))).toEqual(['001_items.js', '002_tags.js']);
    expect(await query(db, 'SELECT name FROM items')).toEqual([{ name: 'first' }]);
    // The storage is the history: nothing of ours or knex's in the database.
    expect(await tables(db)).toEqual(['items', 'tags']);
  });

  // Regression (this test found it; src/commands/status.ts, src/cli/commands/status.ts): `status` ignores the config's
  // `umzug` module and reads ./migrations with the database's tables: here it exits 1 ("migrations
  // folder …/migrations cannot be read"); with an empty ./migrations it reports nothing applied.
  it("status --json shows the Umzug's migrations as applied", async () => {
    const status = await reportOf(await cli(umzugApp, ['status', '--json'], env, TIMEOUT), 0);
    expect(status.applied.map((migration: { name: string }) => migration.name)).toEqual(['001_items.js', '002_tags.js']);
    expect(status.pending).toEqual([]);
  });

  it('a run whose second migration throws exits 2, with the database restored and umzug.json byte for byte as before', async () => {
    const before = await dump(db);
    const storageBefore = await readFile(storage);
    await writeFiles(umzugApp, {
      'umzug-migrations/003_more.js': umzugMigration(
        "  await context('items').insert({ name: 'from 003' });\n  await context.schema.createTable('more', (t) => { t.increments('id'); });",
        "  await context.schema.dropTable('more');",
      ),
      'umzug-migrations/004_broken.js': umzugMigration(
        "  await context('items').insert({ name: 'from 004' });\n  throw new Error('004 fails');",
      ),
    });
    const report = await reportOf(await cli(umzugApp, ['migrate', '--json'], env, TIMEOUT), 2);
    expect(report).toMatchObject({
      restored: true,
      applied: [],
      failed: { migration: '004_broken.js', phase: 'migrate', message: '004 fails' },
    });
    expect(report.migrations).toEqual([
      expect.objectContaining({ name: '003_more.js', status: 'rolled-back' }),
      expect.objectContaining({ name: '004_broken.js', status: 'failed' }),
    ]);
    expect(await dump(db)).toBe(before);
    expect(await readFile(storage)).toEqual(storageBefore);

    // Fixed, the next run applies both: the storage did not claim the first one.
    await writeFiles(umzugApp, {
      'umzug-migrations/004_broken.js': umzugMigration("  await context('items').insert({ name: 'from 004' });"),
    });
    const again = await reportOf(await cli(umzugApp, ['migrate', '--json'], env, TIMEOUT), 0);
    expect(again.applied).toEqual(['003_more.js', '004_broken.js']);
    expect(JSON.parse(await readFile(storage, 'utf8'))).toEqual(['001_items.js', '002_tags.js', '003_more.js', '004_broken.js']);
    expect(await query(db, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'first' }, { name: 'from 003' }, { name: 'from 004' }]);
  });

  // Regression (this test found it; src/rollout/recover.ts): the recovery of a killed run restores the database but never
  // reconciles a project Umzug's storage (the journal does not even keep what had run before), so
  // umzug.json still lists the migration the killed run completed, the database no longer has it,
  // and the next run says "nothing to migrate": that migration is never applied again.
  it("a killed run's recovery puts umzug.json back with the database, and the next run applies the lost migration", async () => {
    const marker = path.join(umzugApp, 'hanging');
    const storageBefore = await readFile(storage);
    await writeFiles(umzugApp, {
      'umzug-migrations/005_first.js': umzugMigration(
        "  await context.schema.createTable('first_of_run', (t) => { t.increments('id'); });",
      ),
      'umzug-migrations/006_hangs.js': `import { writeFileSync } from 'node:fs';
export async function up() {
  writeFileSync(${JSON.stringify(marker)}, String(process.pid));
  await new Promise((resolve) => setTimeout(resolve, 60000));
}
`,
    });
    const killed = run('node', ['node_modules/migrate-guard/bin/migrate-guard.js', 'migrate', '--json'], umzugApp, env, TIMEOUT);
    await untilMigrationWaits(marker, killed);
    killed.kill('SIGKILL');
    await killed;
    await rm(path.join(umzugApp, 'umzug-migrations/006_hangs.js'));

    const report = await reportOf(await cli(umzugApp, ['migrate', '--json'], env, TIMEOUT), 0);
    expect(report.recovered).toMatchObject({ state: 'migrating' });
    expect(report.applied).toEqual(['005_first.js']);
    expect(await tables(db)).toContain('first_of_run');
    expect(JSON.parse(await readFile(storage, 'utf8'))).toEqual([...JSON.parse(storageBefore.toString('utf8')), '005_first.js']);
  });
});

describe('baseline: a database made by hand adopts the migrations that made it', () => {
  let db: string;
  const handMade = `
    CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
    CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER REFERENCES accounts(id), body TEXT);
    INSERT INTO accounts (name) VALUES ('alice');
    INSERT INTO notes (account_id, body) VALUES (1, 'by hand');`;

  beforeAll(async () => {
    db = path.join(baselineApp, 'dev.sqlite3');
    await writeFiles(baselineApp, { ...KNEX_PROJECT, [`migrations/${TAGS}`]: TAGS_MIGRATION });
    await exec(db, handMade);
  });

  it("records the migrations up to --to in knex's table as batch 1 without running them", async () => {
    const report = await reportOf(await cli(baselineApp, ['baseline', '--to', NOTES, '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(report).toMatchObject({ command: 'baseline', baselined: [ACCOUNTS, NOTES], tables: ['accounts', 'notes'] });

    const rows = await knexRows(db);
    expect(rows.map((row) => [row.id, row.name, row.batch])).toEqual([
      [1, ACCOUNTS, 1],
      [2, NOTES, 1],
    ]);
    expect(await query(db, 'SELECT DISTINCT typeof(migration_time) AS type FROM knex_migrations')).toEqual([{ type: 'integer' }]);
    expect(await isLocked(db)).toBe(0);
    // Not run: the first migration's seed row is not there, the application's rows are untouched.
    expect(await query(db, 'SELECT * FROM accounts')).toEqual([{ id: 1, name: 'alice' }]);
    expect(await query(db, 'SELECT * FROM notes')).toEqual([{ id: 1, account_id: 1, body: 'by hand' }]);

    // knex's tables exactly as knex itself creates them.
    const reference = path.join(baselineApp, 'knex-reference.sqlite3');
    await mkdir(path.join(baselineApp, 'no-migrations'));
    const made = await run(
      'node',
      [
        '-e',
        `const knex = require('knex')({ client: 'sqlite3', connection: { filename: ${JSON.stringify(reference)} }, useNullAsDefault: true });
knex.migrate.latest({ directory: './no-migrations' }).then(() => knex.destroy());`,
      ],
      baselineApp,
      KNEX_ENV,
      TIMEOUT,
    );
    expect(made.exitCode, made.all).toBe(0);
    const knexSchema = "SELECT name, sql FROM sqlite_master WHERE name LIKE 'knex_migrations%' ORDER BY name";
    expect(await query(db, knexSchema)).toEqual(await query(reference, knexSchema));

    const status = await knexCli(baselineApp, ['migrate:status']);
    expect(status.exitCode, status.all).toBe(0);
    expect(status.stdout).toContain(`Found 1 Pending Migration file/files.\n${TAGS}`);
    expect(await knexList(baselineApp)).toEqual({ completed: [ACCOUNTS, NOTES], pending: [TAGS] });
  });

  it('then migrate applies the third as batch 2', async () => {
    const report = await reportOf(await cli(baselineApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(report.applied).toEqual([TAGS]);
    expect((await knexRows(db)).map((row) => [row.name, row.batch])).toEqual([
      [ACCOUNTS, 1],
      [NOTES, 1],
      [TAGS, 2],
    ]);
    expect(await query(db, 'SELECT label FROM tags')).toEqual([{ label: 'seeded' }]);
    expect(await knexList(baselineApp)).toMatchObject({ pending: [] });
  });

  it('a second baseline is refused (exit 1) and changes nothing', async () => {
    const before = await dump(db);
    const report = await reportOf(await cli(baselineApp, ['baseline', '--to', NOTES, '--json'], KNEX_ENV, TIMEOUT), 1);
    expect(report).toMatchObject({ ok: false, error: { code: 'USAGE' } });
    expect(await dump(db)).toBe(before);
  });

  it('a baseline whose migrations create a table the database lacks is refused, without creating a history', async () => {
    const lacking = path.join(baselineApp, 'lacking.sqlite3');
    await exec(
      lacking,
      "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL); INSERT INTO accounts (name) VALUES ('alice');",
    );
    const before = await dump(lacking);
    const result = await cli(baselineApp, ['baseline', '--to', NOTES, '--json'], { ...KNEX_ENV, DATABASE_URL: lacking }, TIMEOUT);
    const report = await reportOf(result, 1);
    expect(report).toMatchObject({ ok: false, error: { code: 'PREFLIGHT_FAILED' } });
    expect(report.error.message).toContain('table notes');
    expect(await tables(lacking)).toEqual(['accounts']);
    expect(await dump(lacking)).toBe(before);
  });

  it('without a knexfile, baseline records into migrate_guard_migrations', async () => {
    // A project folder of its own (no knexfile), using the app's installed migrate-guard.
    const plain = path.join(baselineApp, 'plain');
    await writeFiles(plain, {
      [`migrations/${ACCOUNTS}`]: KNEX_PROJECT[`migrations/${ACCOUNTS}`]!,
      [`migrations/${NOTES}`]: KNEX_PROJECT[`migrations/${NOTES}`]!,
      [`migrations/${TAGS}`]: TAGS_MIGRATION,
    });
    // The default database, ./database.db.
    const plainDb = path.join(plain, 'database.db');
    await exec(plainDb, handMade);
    const report = await reportOf(await cli(plain, ['baseline', '--to', '20240102000000_notes', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(report).toMatchObject({ database: plainDb, baselined: ['20240101000000_accounts', '20240102000000_notes'] });
    expect(await query(plainDb, 'SELECT name, checksum FROM migrate_guard_migrations ORDER BY name')).toEqual([
      { name: '20240101000000_accounts', checksum: await sha256(path.join(plain, 'migrations', ACCOUNTS)) },
      { name: '20240102000000_notes', checksum: await sha256(path.join(plain, 'migrations', NOTES)) },
    ]);
    expect(await tables(plainDb)).toEqual(['accounts', 'migrate_guard_migrations', 'notes']);
    expect(await query(plainDb, 'SELECT name FROM accounts')).toEqual([{ name: 'alice' }]);
    const status = await reportOf(await cli(plain, ['status', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(status.pending).toEqual(['20240103000000_tags']);
  });
});

describe('a knex project on MariaDB adopts migrate-guard (the installed package, its mysql2)', () => {
  let db: TestDatabase;
  const broken = '20240104000000_broken.js';
  const knexRowsOf = () => db.query<{ name: string; batch: number }>('SELECT name, batch FROM knex_migrations ORDER BY id');

  beforeAll(async () => {
    db = await mysqlDatabase('mg_mysql_adopt');
    const server = new URL(MY_SERVER);
    const connection = {
      host: server.hostname,
      port: Number(server.port || 3306),
      user: decodeURIComponent(server.username),
      database: db.name,
    };
    await writeFiles(mariadbApp, {
      ...KNEX_PROJECT,
      [`migrations/${NOTES}`]: knexMigration('notes', "t.integer('account_id').unsigned().references('accounts.id'); t.text('body');"),
      'knexfile.js': `module.exports = {\n  development: {\n    client: 'mysql2',\n    connection: ${JSON.stringify(connection)},\n    migrations: { directory: './migrations' },\n  },\n};\n`,
    });
    const latest = await knexCli(mariadbApp, ['migrate:latest']);
    expect(latest.exitCode, latest.all).toBe(0);
    await db.exec("INSERT INTO accounts (name) VALUES ('alice'), ('bob'); INSERT INTO notes (account_id, body) VALUES (2, 'hello');");
  }, 120_000);

  afterAll(async () => {
    await db?.drop();
  });

  it("migrate applies the new migration into knex's history as batch 2; knex sees nothing pending", async () => {
    await writeFiles(mariadbApp, { [`migrations/${TAGS}`]: TAGS_MIGRATION });
    const report = await reportOf(await cli(mariadbApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 0);
    expect(report).toMatchObject({ applied: [TAGS], restored: false, failed: null });
    expect(report.backup).toMatch(/_pre-rollout_\d{8}_\d{6}\.sql$/);
    expect(await knexRowsOf()).toEqual([
      { name: ACCOUNTS, batch: 1 },
      { name: NOTES, batch: 1 },
      { name: TAGS, batch: 2 },
    ]);
    expect(await db.query('SELECT label FROM tags')).toEqual([{ label: 'seeded' }]);
    expect(await knexList(mariadbApp)).toEqual({ completed: [ACCOUNTS, NOTES, TAGS], pending: [] });
  });

  it('a migration failing after two DDL statements exits 2: the backup is restored, schema, rows and history as before', async () => {
    await writeFiles(mariadbApp, {
      [`migrations/${broken}`]: `exports.up = async function (knex) {
  await knex.schema.createTable('broken', (t) => { t.increments('id'); });
  await knex.schema.alterTable('accounts', (t) => { t.string('email'); });
  await knex('accounts').where({ name: 'alice' }).update({ name: 'ALICE' });
  throw new Error('the fourth migration fails');
};
exports.down = function () {};
`,
    });
    const before = await db.dump();
    try {
      const report = await reportOf(await cli(mariadbApp, ['migrate', '--json'], KNEX_ENV, TIMEOUT), 2);
      expect(report).toMatchObject({ restored: true, applied: [], failed: { migration: broken, message: 'the fourth migration fails' } });
      expect(await db.dump()).toBe(before);
      expect(await db.tables()).not.toContain('broken');
      expect(await db.query('SELECT is_locked FROM knex_migrations_lock')).toEqual([{ is_locked: 0 }]);
      expect((await knexList(mariadbApp)).pending).toEqual([broken]);
    } finally {
      await rm(path.join(mariadbApp, 'migrations', broken));
    }
  });
});
