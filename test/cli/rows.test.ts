import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, TempProject, dump, parseReport, query } from '../helpers/project.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';

/**
 * The `rows` check through the real binary: a table that has fewer rows after the migrations than
 * when the run began fails the run, which is undone with every row kept (exit 2), unless a
 * migration declared the deletes; rows the application deletes meanwhile are told apart.
 */

let project: TempProject;

beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

/** `parent` and `child` (ON DELETE CASCADE), two parents, three children: the first migration. */
const PARENT_AND_CHILD = `exports.up = async (knex) => {
  await knex.raw('CREATE TABLE parent (id integer PRIMARY KEY, name text NOT NULL)');
  await knex.raw('CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id) ON DELETE CASCADE, body text)');
  await knex.raw("INSERT INTO parent (id, name) VALUES (1, 'a'), (2, 'b')");
  await knex.raw("INSERT INTO child (parent_id, body) VALUES (1, 'x'), (1, 'y'), (2, 'z')");
};
exports.down = async (knex) => { await knex.raw('DROP TABLE child'); await knex.raw('DROP TABLE parent'); };
`;

/**
 * The first case: a knex migration outside a transaction turns foreign keys on, then
 * rebuilds \`parent\` the usual way; the DROP cascades and deletes every child row.
 */
const rebuildWithForeignKeysOn = (review = '') => `exports.config = { transaction: false };
${review}
exports.up = async (knex) => {
  await knex.raw('PRAGMA foreign_keys = ON');
  await knex.raw('CREATE TABLE parent_new (id integer PRIMARY KEY, name text NOT NULL, note text)');
  await knex.raw('INSERT INTO parent_new (id, name) SELECT id, name FROM parent');
  await knex.raw('DROP TABLE parent');
  await knex.raw('ALTER TABLE parent_new RENAME TO parent');
};
`;

async function withParentAndChild(): Promise<void> {
  await project.writeMigration('001_parent_child.js', PARENT_AND_CHILD);
  const first = await project.run(['migrate']);
  expect(first.exitCode, first.all).toBe(0);
}

const rowsCheckOf = (report: Record<string, any>) =>
  (report.checks as { name: string; ok: boolean; detail: string }[]).find((check) => check.name === 'rows');

describe('the rows check on SQLite', () => {
  it('a migration that turns foreign keys on and rebuilds a parent fails the run, restored with every child row (exit 2)', async () => {
    await withParentAndChild();
    const before = await dump(project.db);
    await project.writeMigration('002_rebuild_parent.js', rebuildWithForeignKeysOn());
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ ok: false, undo: 'restore', restored: true, failed: { phase: 'check' } });
    const rows = rowsCheckOf(report);
    expect(rows?.ok).toBe(false);
    expect(rows?.detail).toContain('child: 3 rows before the run, 0 after (3 lost)');
    expect(rows?.detail).toContain('turned foreign keys on');
    expect(rows?.detail).toContain("exports.review = { allow: ['rows-shrunk'] }");
    expect(result.stderr).toContain('turned foreign keys on');
    // Every row is back, the migration not recorded.
    expect(await dump(project.db)).toBe(before);
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM child')).toEqual([{ n: 3 }]);
  });

  it('passes once the migration declares the deletes, for every table or for the tables it names', async () => {
    await withParentAndChild();
    await project.writeMigration(
      '002_rebuild_parent.js',
      rebuildWithForeignKeysOn("exports.review = { allow: [{ rule: 'rows-shrunk', tables: ['child'] }] };"),
    );
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(rowsCheckOf(parseReport(result.stdout))).toMatchObject({ ok: true });
    expect(rowsCheckOf(parseReport(result.stdout))?.detail).toContain('child 3 → 0 (declared by 002_rebuild_parent)');
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM child')).toEqual([{ n: 0 }]);
  });

  it('a declaration naming other tables does not cover the lost ones', async () => {
    await withParentAndChild();
    const before = await dump(project.db);
    await project.writeMigration(
      '002_rebuild_parent.js',
      rebuildWithForeignKeysOn("exports.review = { allow: [{ rule: 'rows-shrunk', tables: ['parent'] }] };"),
    );
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(await dump(project.db)).toBe(before);
  });

  it('a cleanup migration that deletes rows and declares it: exit 0; the same without the declaration is rolled back (exit 2)', async () => {
    await withParentAndChild();
    const before = await dump(project.db);
    const cleanup = (review: string) => `${review}\nexports.up = async (knex) => { await knex('child').where({ body: 'y' }).del(); };\n`;
    await project.writeMigration('002_cleanup.js', cleanup(''));
    const refused = await project.run(['migrate', '--json']);
    expect(refused.exitCode, refused.stderr).toBe(2);
    expect(parseReport(refused.stdout)).toMatchObject({ undo: 'rollback' });
    expect(rowsCheckOf(parseReport(refused.stdout))?.detail).toContain('child: 3 rows before the run, 2 after (1 lost)');
    expect(await dump(project.db)).toBe(before);

    await project.writeMigration('002_cleanup.js', cleanup("exports.review = { allow: ['rows-shrunk'] };"));
    const declared = await project.run(['migrate', '--json']);
    expect(declared.exitCode, declared.stderr).toBe(0);
    expect(await query(project.db, 'SELECT body FROM child ORDER BY id')).toEqual([{ body: 'x' }, { body: 'z' }]);
  });

  it('tables a migration drops or renames are accounted for, not lost', async () => {
    await withParentAndChild();
    await project.writeMigration(
      '002_reshape.js',
      "exports.up = async (knex) => { await knex.raw('DROP TABLE child'); await knex.raw('ALTER TABLE parent RENAME TO owners'); };\n",
    );
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(rowsCheckOf(parseReport(result.stdout))?.detail).toContain('dropped or renamed by the run: child, parent');
  });

  it('the config lowers a table to a warning (checks.rows.warn), and a review it cannot read is refused before anything', async () => {
    await withParentAndChild();
    await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), "export default { checks: { rows: { warn: ['child'] } } };\n");
    await project.writeMigration('002_prune.js', "exports.up = async (knex) => { await knex('child').where({ parent_id: 2 }).del(); };\n");
    const warned = await project.run(['migrate', '--json']);
    expect(warned.exitCode, warned.stderr).toBe(0);
    expect(warned.stderr).toContain('child: 3 rows before the run, 2 after (1 lost); checks.rows.warn lowers child to a warning');

    const before = await dump(project.db);
    const backups = await project.backupFiles();
    await project.writeMigration('003_bad_review.js', "exports.review = { allow: 'rows-shrunk' };\nexports.up = async () => {};\n");
    const refused = await project.run(['migrate', '--json']);
    expect(refused.exitCode).toBe(1);
    expect(parseReport(refused.stdout).error.message).toContain('migration 003_bad_review exports a review migrate-guard cannot read');
    expect(await dump(project.db)).toBe(before);
    expect(await project.backupFiles()).toEqual(backups);
  });

  it('foreign keys turned on inside a grouped migration are noticed: every table is compared', async () => {
    await withParentAndChild();
    // Inside a transaction SQLite ignores the PRAGMA; the run still says it saw it and compares every table.
    await project.writeMigration(
      '002_fk_on.js',
      "exports.up = async (knex) => { await knex.raw('PRAGMA foreign_keys = ON'); await knex.raw('CREATE TABLE labels (id integer PRIMARY KEY)'); };\n",
    );
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('a migration turned foreign keys on (PRAGMA foreign_keys = ON)');
    expect(rowsCheckOf(parseReport(result.stdout))?.detail).toBe('no table lost rows (3 of 3 tables compared)');
  });

  it('rows the application deletes during a per-migration run do not fail it: reported, not failed', async () => {
    await withParentAndChild();
    // The application, on a connection of its own, deletes a child row while the migration runs.
    await project.writeMigration(
      '002_while_the_app_deletes.js',
      `exports.config = { transaction: false };
exports.up = async (knex) => {
  const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
  await new Promise((resolve, reject) => {
    const app = new sqlite3.Database(${JSON.stringify(project.db)});
    app.run("DELETE FROM child WHERE body = 'z'", (error) => app.close(() => (error ? reject(error) : resolve())));
  });
  // The run writes child too, so its rows are compared.
  await knex.raw('UPDATE child SET body = upper(body)');
};
`,
    );
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      'child: 3 rows before the run, 2 after (1 lost); not failed: another connection (the application?) committed during the run',
    );
    expect(await query(project.db, 'SELECT body FROM child ORDER BY id')).toEqual([{ body: 'X' }, { body: 'Y' }]);
  });
});

describe('a sequelize + umzug project whose connection enforces foreign keys', () => {
  /** A CommonJS app's Umzug module as HedgeDoc writes one: sequelize's QueryInterface as the context, SequelizeStorage. */
  const umzugModule = (wrapper: boolean) => `const path = require('node:path');
const { Sequelize } = require(${JSON.stringify(path.join(REPO, 'node_modules/sequelize'))});
const { Umzug, SequelizeStorage } = require(${JSON.stringify(path.join(REPO, 'node_modules/umzug'))});
const sequelize = new Sequelize({ dialect: 'sqlite', storage: process.env.DATABASE_URL, logging: false });
const umzug = new Umzug({
  migrations: { glob: ['umzug-migrations/*.cjs', { cwd: __dirname }] },
  context: sequelize.getQueryInterface(),
  storage: new SequelizeStorage({ sequelize }),
  logger: undefined,
});
${wrapper ? "umzug.on('beforeCommand', () => sequelize.query('PRAGMA foreign_keys = OFF'));\numzug.on('afterCommand', () => sequelize.query('PRAGMA foreign_keys = ON'));" : ''}
module.exports = { umzug };
`;
  const notes = `module.exports = {
  up: async ({ context: qi }) => {
    await qi.sequelize.query('CREATE TABLE Users (id integer PRIMARY KEY, email text)');
    await qi.sequelize.query('CREATE TABLE Notes (id integer PRIMARY KEY, ownerId integer REFERENCES Users(id) ON DELETE CASCADE, body text)');
    await qi.sequelize.query("INSERT INTO Users (id, email) VALUES (1, 'a@example.org')");
    await qi.sequelize.query("INSERT INTO Notes (ownerId, body) VALUES (1, 'the user''s note')");
  },
};
`;
  /** The HedgeDoc migration: \`Users\` rebuilt (create, copy, drop, rename). */
  const rebuildUsers = `module.exports = {
  up: async ({ context: qi }) => {
    await qi.sequelize.query('CREATE TABLE Users_new (id integer PRIMARY KEY, email text, name text)');
    await qi.sequelize.query('INSERT INTO Users_new (id, email) SELECT id, email FROM Users');
    await qi.sequelize.query('DROP TABLE Users');
    await qi.sequelize.query('ALTER TABLE Users_new RENAME TO Users');
  },
};
`;

  async function umzugProject(options: { wrapper: boolean; handles: boolean }): Promise<void> {
    await writeFile(path.join(project.dir, 'package.json'), JSON.stringify({ name: 'hedgedoc-like', private: true }));
    await writeFile(path.join(project.dir, 'umzug.js'), umzugModule(options.wrapper));
    // A CommonJS app: the config is an ES module by its name, with no warning from Node.
    await writeFile(
      path.join(project.dir, 'migrate-guard.config.mjs'),
      `export default { umzug: './umzug.js'${options.handles ? ', umzugHandlesForeignKeys: true' : ''} };\n`,
    );
    await rm(project.migrations, { recursive: true });
    const folder = path.join(project.dir, 'umzug-migrations');
    await mkdir(folder);
    await writeFile(path.join(folder, '01-notes.cjs'), notes);
  }

  const addRebuild = () => writeFile(path.join(project.dir, 'umzug-migrations', '02-rebuild-users.cjs'), rebuildUsers);

  it('is refused before the first migration, with the two-line fix (exit 1), and nothing changes', async () => {
    await umzugProject({ wrapper: false, handles: false });
    const refused = await project.run(['migrate', '--json']);
    expect(refused.exitCode, refused.stderr).toBe(1);
    const message: string = parseReport(refused.stdout).error.message;
    expect(message).toContain("the project Umzug's connection enforces foreign keys");
    expect(message).toContain("umzug.on('beforeCommand', () => sequelize.query('PRAGMA foreign_keys = OFF'))");
    expect(message).toContain('umzugHandlesForeignKeys: true');
    expect(message.split('\n')).toHaveLength(1);
    // Not one migration ran (SequelizeStorage makes its empty table as soon as it is read).
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'SequelizeMeta'")).toEqual([]);
    expect(await query(project.db, 'SELECT name FROM SequelizeMeta')).toEqual([]);
    expect(await project.backupFiles()).toEqual([]);
    expect(refused.stderr).not.toContain('MODULE_TYPELESS_PACKAGE_JSON');
  });

  it('with the wrapper keeps every row; its manifest lists the applied migrations from SequelizeMeta', async () => {
    await umzugProject({ wrapper: true, handles: true });
    const first = await project.run(['migrate']);
    expect(first.exitCode, first.all).toBe(0);
    await addRebuild();
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(rowsCheckOf(report)).toMatchObject({ ok: true });
    expect(await query(project.db, 'SELECT body FROM Notes')).toEqual([{ body: "the user's note" }]);
    const manifest = JSON.parse(await readFile(`${report.backup}.manifest.json`, 'utf8'));
    expect(manifest.appliedMigrations).toEqual(['01-notes.cjs']);
  });

  it('said to be handled but not: the cascade fails the rows check and the restore keeps every row (exit 2)', async () => {
    await umzugProject({ wrapper: false, handles: true });
    const first = await project.run(['migrate']);
    expect(first.exitCode, first.all).toBe(0);
    const before = await dump(project.db);
    await addRebuild();
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(rowsCheckOf(parseReport(result.stdout))?.detail).toContain('Notes: 1 rows before the run, 0 after (1 lost)');
    expect(await dump(project.db)).toBe(before);
    expect(await query(project.db, 'SELECT name FROM SequelizeMeta')).toEqual([{ name: '01-notes.cjs' }]);
  });
});

describe('the rows check on PostgreSQL', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await postgresDatabase('mg_rows');
  });
  afterEach(async () => {
    await db.drop();
  });
  const cli = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: db.url } });

  const schema = `exports.up = async (knex) => {
  await knex.raw('CREATE TABLE parent (id integer PRIMARY KEY, name text NOT NULL)');
  await knex.raw('CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id) ON DELETE CASCADE, body text)');
  await knex.raw("INSERT INTO parent (id, name) VALUES (1, 'a'), (2, 'b')");
  await knex.raw("INSERT INTO child (parent_id, body) VALUES (1, 'x'), (1, 'y'), (2, 'z')");
};
`;

  it("tells the run's deletes from the application's inside the group: the application's are reported, the run's fail", async () => {
    await project.writeMigration('001_parent_child.js', schema);
    expect((await cli(['migrate'])).exitCode).toBe(0);
    // The application, on a session of its own, deletes a child row while the group is open.
    const appDeletes = (also: string) => `exports.up = async (knex) => {
  const pg = require(${JSON.stringify(path.join(REPO, 'node_modules/pg'))});
  const app = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await app.connect();
  await app.query("DELETE FROM child WHERE body = 'z'");
  await app.end();
  await knex.raw('UPDATE child SET body = upper(body)');
  ${also}
};
`;
    await project.writeMigration('002_while_the_app_deletes.js', appDeletes(''));
    const theirs = await cli(['migrate', '--json']);
    expect(theirs.exitCode, theirs.stderr).toBe(0);
    expect(theirs.stderr).toContain('child: 3 rows before the run, 2 after (1 lost, 0 by the run, 1 by another connection); not failed');
    expect(await db.query('SELECT body FROM child ORDER BY id')).toEqual([{ body: 'X' }, { body: 'Y' }]);

    // The run's own delete, counted the same way (a plain DELETE leaves the table readable from outside): failed.
    const before = await db.dump();
    await project.writeMigration(
      '003_run_deletes.js',
      "exports.up = async (knex) => { await knex('child').where({ body: 'X' }).del(); };\n",
    );
    const ours = await cli(['migrate', '--json']);
    expect(ours.exitCode, ours.stderr).toBe(2);
    expect(rowsCheckOf(parseReport(ours.stdout))?.detail).toContain('child: 2 rows before the run, 1 after (1 lost)');
    expect(await db.dump()).toBe(before);
  });

  it('TRUNCATE … CASCADE empties the children: rolled back with every row (exit 2)', async () => {
    await project.writeMigration('001_parent_child.js', schema);
    expect((await cli(['migrate'])).exitCode).toBe(0);
    const before = await db.dump();
    await project.writeMigration(
      '002_reset_parent.js',
      "exports.up = async (knex) => { await knex.raw('TRUNCATE parent CASCADE'); await knex('parent').insert({ id: 1, name: 'a' }); };\n",
    );
    const result = await cli(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    const rows = rowsCheckOf(parseReport(result.stdout));
    expect(rows?.detail).toContain('child: 3 rows before the run, 0 after (3 lost)');
    expect(rows?.detail).toContain('parent: 2 rows before the run, 1 after (1 lost)');
    expect(await db.dump()).toBe(before);
  });

  it('a parent rebuilt with its children moved over by ON DELETE CASCADE: rolled back (exit 2); declared, it passes', async () => {
    await project.writeMigration('001_parent_child.js', schema);
    expect((await cli(['migrate'])).exitCode).toBe(0);
    const before = await db.dump();
    const rebuild = (review: string) => `${review}
exports.up = async (knex) => {
  await knex.raw('CREATE TABLE parent_new (id integer PRIMARY KEY, name text NOT NULL, note text)');
  await knex.raw("INSERT INTO parent_new (id, name) SELECT id, name FROM parent WHERE name <> 'b'");
  await knex.raw('DELETE FROM parent');
  await knex.raw('ALTER TABLE child DROP CONSTRAINT child_parent_id_fkey');
  await knex.raw('DROP TABLE parent');
  await knex.raw('ALTER TABLE parent_new RENAME TO parent');
  await knex.raw('ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent(id) ON DELETE CASCADE');
};
`;
    await project.writeMigration('002_rebuild_parent.js', rebuild(''));
    const result = await cli(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(rowsCheckOf(parseReport(result.stdout))?.detail).toContain('child: 3 rows before the run, 0 after (3 lost)');
    expect(await db.dump()).toBe(before);

    await project.writeMigration('002_rebuild_parent.js', rebuild("exports.review = { allow: ['rows-shrunk'] };"));
    const declared = await cli(['migrate', '--json']);
    expect(declared.exitCode, declared.stderr).toBe(0);
    expect(await db.query('SELECT COUNT(*)::int AS n FROM child')).toEqual([{ n: 0 }]);
  });
});
