import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { REPO, TempProject, parseReport } from '../helpers/project.ts';
import { MY_SERVER, mysqlDatabase, type TestDatabase } from '../helpers/databases.ts';
import { knexMigration } from '../helpers/migrations.ts';

/**
 * A knex project on MySQL/MariaDB adopts migrate-guard with its `knex_migrations` history (and the
 * `knex_migrations_lock` row): the real knex CLI (the repository's) and the real migrate-guard CLI
 * take turns on one database, which both find through the project's knexfile (`client: 'mysql2'`,
 * a connection object).
 */

/** What both CLIs run with: the knexfile's `development` section, nothing from the outer shell. */
const ENV = {
  NODE_ENV: 'development',
  DATABASE_URL: undefined,
  MIGRATIONS_DIR: undefined,
  BACKUP_DIR: undefined,
  MIGRATE_GUARD_CONFIG: undefined,
};

const ACCOUNTS = '20240101000000_accounts.js';
const NOTES = '20240102000000_notes.js';
const TAGS = '20240103000000_tags.js';

/** A knexfile's connection object for `db` (the test server needs no password). */
function connectionOf(db: TestDatabase) {
  const server = new URL(MY_SERVER);
  return { host: server.hostname, port: Number(server.port || 3306), user: decodeURIComponent(server.username), database: db.name };
}

describe('a knex project on MySQL/MariaDB adopts migrate-guard', () => {
  let project: TempProject;
  let db: TestDatabase;
  let knexfile: string;

  /**
   * The repository's knex CLI on the project's knexfile. knex looks for itself from the
   * knexfile's folder (a temp folder without node_modules), so KNEX_PATH points it at the
   * repository's copy; `mysql2` is found beside it.
   */
  const knexCli = (args: readonly string[]) =>
    execa('node', ['node_modules/knex/bin/cli.js', ...args, '--knexfile', knexfile], {
      cwd: REPO,
      env: { ...ENV, KNEX_PATH: path.join(REPO, 'node_modules/knex') },
      reject: false,
      all: true,
      stdin: 'ignore',
    });
  const knexRows = () => db.query<{ name: string; batch: number }>('SELECT name, batch FROM knex_migrations ORDER BY id');

  beforeEach(async () => {
    project = await TempProject.create();
    db = await mysqlDatabase('mg_mysql_knex');
    const connection = connectionOf(db);
    knexfile = path.join(project.dir, 'knexfile.js');
    await writeFile(
      knexfile,
      `module.exports = {\n  development: {\n    client: 'mysql2',\n    connection: ${JSON.stringify(connection)},\n    migrations: { directory: './migrations' },\n  },\n};\n`,
    );
    await project.writeMigration(
      ACCOUNTS,
      knexMigration('accounts', "t.string('name').notNullable();", "await knex('accounts').insert({ name: 'seeded by the migration' });"),
    );
    await project.writeMigration(
      NOTES,
      knexMigration('notes', "t.integer('account_id').unsigned().references('accounts.id'); t.text('body');"),
    );
  });
  afterEach(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  it('knex migrate:latest, then migrate-guard migrate (batch 2), then knex migrate:status and migrate:rollback', async () => {
    const latest = await knexCli(['migrate:latest']);
    expect(latest.exitCode, latest.all).toBe(0);
    expect(latest.stdout).toContain('Batch 1 run: 2 migrations');
    await db.exec("INSERT INTO accounts (name) VALUES ('alice'), ('bob'); INSERT INTO notes (account_id, body) VALUES (2, 'hello');");

    // migrate-guard finds the database in the knexfile (no DATABASE_URL) and keeps knex's history.
    await project.writeMigration(TAGS, knexMigration('tags', "t.string('label');", "await knex('tags').insert({ label: 'seeded' });"));
    const migrated = await project.run(['migrate', '--json'], { env: ENV });
    expect(migrated.exitCode, migrated.all).toBe(0);
    const report = parseReport(migrated.stdout);
    const { user, host, port } = connectionOf(db);
    expect(report).toMatchObject({ ok: true, applied: [TAGS], database: `mysql://${user}@${host}:${port}/${db.name}` });
    expect(report.backup).toMatch(new RegExp(`/backups/pre-rollout/${db.name}_pre-rollout_\\d{8}_\\d{6}\\.sql$`));
    expect(await knexRows()).toEqual([
      { name: ACCOUNTS, batch: 1 },
      { name: NOTES, batch: 1 },
      { name: TAGS, batch: 2 },
    ]);
    expect(await db.query('SELECT is_locked FROM knex_migrations_lock')).toEqual([{ is_locked: 0 }]);
    expect(await db.query('SELECT label FROM tags')).toEqual([{ label: 'seeded' }]);

    const status = await knexCli(['migrate:status']);
    expect(status.exitCode, status.all).toBe(0);
    expect(status.stdout).toContain('Found 3 Completed Migration file/files.');
    expect(status.stdout).toContain('No Pending Migration files Found.');

    const rollback = await knexCli(['migrate:rollback']);
    expect(rollback.exitCode, rollback.all).toBe(0);
    expect(rollback.stdout).toContain('Batch 2 rolled back: 1 migrations');
    expect(await knexRows()).toEqual([
      { name: ACCOUNTS, batch: 1 },
      { name: NOTES, batch: 1 },
    ]);
    expect(await db.tables()).not.toContain('tags');
    expect(await db.query('SELECT name FROM accounts ORDER BY id')).toEqual([
      { name: 'seeded by the migration' },
      { name: 'alice' },
      { name: 'bob' },
    ]);

    // And migrate-guard sees what knex reverted as pending again.
    const after = await project.run(['status', '--json'], { env: ENV });
    expect(after.exitCode, after.all).toBe(0);
    expect(parseReport(after.stdout)).toMatchObject({ pending: [TAGS], changed: [] });
  });
});
