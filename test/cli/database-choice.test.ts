import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TempProject, parseReport, query } from '../helpers/project.ts';
import { PG_SERVER, postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { knexMigration } from '../helpers/migrations.ts';

/**
 * Never the wrong database (issue 19): the engine is what the user named (a knexfile's `client`, a
 * URL's scheme, a path), and anything else is refused with exit 1 before anything is created. A
 * Kutt knexfile (`client: 'mysql2'`) once had `migrate` create `./database.db`, migrate it, and
 * exit 0 while the MariaDB database stayed as it was.
 */

const ITEMS = '20240101000000_items.js';
/** The knexfile alone names the database: nothing from the outer shell. */
const KNEXFILE_ONLY = { DATABASE_URL: undefined, MIGRATIONS_DIR: undefined, BACKUP_DIR: undefined, MIGRATE_GUARD_CONFIG: undefined };

/** Every file and folder under `dir`, relative, sorted: what a refusal must leave exactly as it was. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name))).sort();
}

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration(ITEMS, knexMigration('items', "t.string('name');", "await knex('items').insert({ name: 'alpha' });"));
});
afterEach(async () => {
  await project.cleanup();
});

const SUPPORTED_CLIENTS =
  'supported: sqlite3, better-sqlite3 (SQLite); pg, postgres, postgresql (PostgreSQL); mysql2, mysql (MySQL/MariaDB)';
const SUPPORTED_LOCATIONS =
  'supported: file:, sqlite: or a path (SQLite); postgres://, postgresql:// (PostgreSQL); mysql://, mariadb:// (MySQL/MariaDB)';

describe('a database migrate-guard does not run is refused, exit 1, and nothing is created', () => {
  /** Runs `args`, expects the one-line refusal (human and --json), and that the project folder is untouched. */
  async function expectRefused(
    args: readonly string[],
    env: Record<string, string | undefined>,
    message: RegExp,
    code = 'ENGINE_UNSUPPORTED',
  ) {
    const before = await tree(project.dir);
    const human = await project.run(args, { env });
    expect(human.exitCode, human.all).toBe(1);
    expect(human.stdout).toBe('');
    expect(human.stderr.trim().split('\n')).toHaveLength(1);
    expect(human.stderr).toMatch(/^migrate-guard: /);
    expect(human.stderr).toMatch(message);
    const json = await project.run([...args, '--json'], { env });
    expect(json.exitCode, json.all).toBe(1);
    // The same one line, with the CLI's prefix for humans.
    expect(parseReport(json.stdout)).toMatchObject({
      ok: false,
      exitCode: 1,
      error: { code, message: human.stderr.trim().replace(/^migrate-guard: /, '') },
    });
    expect(await tree(project.dir)).toEqual(before);
    expect(before).not.toContain('database.db');
    return human.stderr;
  }

  // Regression (issue 19): Kutt's knexfile, with its connection object, was taken for a SQLite
  // file. It is MySQL/MariaDB now: a wrong password is refused in one line, nothing created.
  it.each(['migrate', 'status', 'backup'])(
    "knexfile.js with client 'mysql2' (Kutt) and a wrong password: %s is refused in one line, password redacted",
    async (command) => {
      await writeFile(
        path.join(project.dir, 'knexfile.js'),
        `module.exports = {\n  development: {\n    client: 'mysql2',\n    connection: { host: '127.0.0.1', port: 3306, user: 'root', password: 'hunter2', database: 'kutt' },\n    migrations: { directory: './migrations' },\n  },\n};\n`,
      );
      const stderr = await expectRefused(
        [command],
        KNEXFILE_ONLY,
        /cannot connect to mysql:\/\/root:\*\*\*@127\.0\.0\.1:3306\/kutt: Access denied for user 'root'@'[^']+' \(using password: YES\)/,
        'USAGE',
      );
      expect(stderr).not.toContain('hunter2');
    },
  );

  it('knexfile.ts with an unknown client names it and the supported clients', async () => {
    await writeFile(
      path.join(project.dir, 'knexfile.ts'),
      `export default { client: 'oracledb', connection: { user: 'app', connectString: 'db/ORCL' } };\n`,
    );
    const stderr = await expectRefused(
      ['migrate'],
      KNEXFILE_ONLY,
      /knexfile\.ts: client 'oracledb' is not a database migrate-guard supports; /,
    );
    expect(stderr).toContain(SUPPORTED_CLIENTS);
  });

  it('DATABASE_URL=mysql://… with a wrong password is refused in one line (it was once taken for a file path)', async () => {
    const stderr = await expectRefused(
      ['migrate'],
      { DATABASE_URL: 'mysql://root:hunter2@127.0.0.1:3306/kutt' },
      /cannot connect to mysql:\/\/root:\*\*\*@127\.0\.0\.1:3306\/kutt: Access denied/,
      'USAGE',
    );
    expect(stderr).not.toContain('hunter2');
  });

  it('DATABASE_URL=mongodb://… names the scheme and the supported ones', async () => {
    const stderr = await expectRefused(
      ['migrate'],
      { DATABASE_URL: 'mongodb://mongo:27017/shop' },
      /DATABASE_URL "mongodb:\/\/mongo:27017\/shop": the scheme mongodb: is not a database migrate-guard supports; /,
    );
    expect(stderr).toContain(SUPPORTED_LOCATIONS);
  });

  it('--db redis://… names the scheme and the supported ones, whatever DATABASE_URL says', async () => {
    const stderr = await expectRefused(
      ['migrate', '--db', 'redis://cache:6379/0'],
      { DATABASE_URL: project.db },
      /--db "redis:\/\/cache:6379\/0": the scheme redis: is not a database migrate-guard supports; /,
    );
    expect(stderr).toContain(SUPPORTED_LOCATIONS);
  });
});

describe("a knexfile's connection may be a function, sync or async, as knex allows", () => {
  it('a sync function giving { filename } migrates that SQLite file', async () => {
    await writeFile(
      path.join(project.dir, 'knexfile.js'),
      `module.exports = { client: 'sqlite3', useNullAsDefault: true, connection: () => ({ filename: './from-function.db' }), migrations: { directory: './migrations' } };\n`,
    );
    const result = await project.run(['migrate', '--json'], { env: KNEXFILE_ONLY });
    expect(result.exitCode, result.all).toBe(0);
    const file = path.join(project.dir, 'from-function.db');
    expect(parseReport(result.stdout)).toMatchObject({ applied: [ITEMS], database: file });
    expect(await query(file, 'SELECT name FROM items')).toEqual([{ name: 'alpha' }]);
    expect(await query(file, 'SELECT name, batch FROM knex_migrations')).toEqual([{ name: ITEMS, batch: 1 }]);
    expect(await tree(project.dir)).not.toContain('database.db');
  });

  describe('on PostgreSQL', () => {
    let db: TestDatabase;
    beforeEach(async () => {
      db = await postgresDatabase('mg_choice');
    });
    afterEach(async () => {
      await db.drop();
    });

    it('an async function giving { host, port, user, database } migrates that PostgreSQL database', async () => {
      const server = new URL(PG_SERVER);
      const connection = {
        host: server.hostname,
        port: Number(server.port || 5432),
        user: decodeURIComponent(server.username),
        database: db.name,
      };
      await writeFile(
        path.join(project.dir, 'knexfile.js'),
        `module.exports = { development: { client: 'pg', connection: async () => { await new Promise((resolve) => setTimeout(resolve, 1)); return ${JSON.stringify(connection)}; }, migrations: { directory: './migrations' } } };\n`,
      );
      const result = await project.run(['migrate', '--json'], { env: KNEXFILE_ONLY });
      expect(result.exitCode, result.all).toBe(0);
      expect(parseReport(result.stdout)).toMatchObject({
        applied: [ITEMS],
        database: `postgres://${connection.user}@${connection.host}:${connection.port}/${db.name}`,
      });
      expect(await db.query('SELECT name FROM items')).toEqual([{ name: 'alpha' }]);
      expect(await db.query('SELECT name, batch FROM knex_migrations')).toEqual([{ name: ITEMS, batch: 1 }]);
      expect(await tree(project.dir)).not.toContain('database.db');
    });
  });
});
