import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { folderSettings, resolveLocations } from '../../src/config/locations.ts';
import { TempProject } from '../helpers/project.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

const at = (...parts: string[]) => path.join(project.dir, ...parts);

async function knexfile(source: string, name = 'knexfile.ts'): Promise<void> {
  await writeFile(at(name), source);
}

describe('resolveLocations: flag, then environment, then default', () => {
  it('uses the defaults in the project folder', async () => {
    expect(await resolveLocations({}, {}, project.dir)).toEqual({
      database: at('database.db'),
      engine: 'sqlite',
      migrationsDir: at('migrations'),
      migrations: folderSettings(at('migrations')),
      backupDir: at('backups'),
      configFile: null,
      directUrl: null,
    });
  });

  it('lets the environment beat the defaults', async () => {
    await writeFile(at('env.config.ts'), 'export default {};');
    const env = {
      DATABASE_URL: 'sqlite:./env.db',
      MIGRATIONS_DIR: 'env-migrations',
      BACKUP_DIR: '/var/backups/env',
      MIGRATE_GUARD_CONFIG: 'env.config.ts',
      DIRECT_URL: 'postgres://env@db:5432/app',
    };
    expect(await resolveLocations({}, env, project.dir)).toEqual({
      database: at('env.db'),
      engine: 'sqlite',
      migrationsDir: at('env-migrations'),
      migrations: folderSettings(at('env-migrations')),
      backupDir: '/var/backups/env',
      configFile: at('env.config.ts'),
      directUrl: 'postgres://env@db:5432/app',
    });
  });

  it('lets a flag beat the environment', async () => {
    await writeFile(at('env.config.ts'), 'export default {};');
    await writeFile(at('flag.config.ts'), 'export default {};');
    const env = {
      DATABASE_URL: 'env.db',
      MIGRATIONS_DIR: 'env-migrations',
      BACKUP_DIR: 'env-backups',
      MIGRATE_GUARD_CONFIG: 'env.config.ts',
      DIRECT_URL: 'postgres://env@db/app',
    };
    const flags = {
      db: 'file:flag.db',
      migrations: 'flag-migrations',
      backupDir: 'flag-backups',
      config: 'flag.config.ts',
      directUrl: 'postgres://flag@db/app',
    };
    expect(await resolveLocations(flags, env, project.dir)).toEqual({
      database: at('flag.db'),
      engine: 'sqlite',
      migrationsDir: at('flag-migrations'),
      migrations: folderSettings(at('flag-migrations')),
      backupDir: at('flag-backups'),
      configFile: at('flag.config.ts'),
      directUrl: 'postgres://flag@db/app',
    });
  });

  it('treats an empty DATABASE_URL as unset', async () => {
    expect((await resolveLocations({}, { DATABASE_URL: '' }, project.dir)).database).toBe(at('database.db'));
    await knexfile(`export default { development: { client: 'sqlite3', connection: { filename: './from-knexfile.db' } } };`);
    expect((await resolveLocations({}, { DATABASE_URL: '' }, project.dir)).database).toBe(at('from-knexfile.db'));
  });

  // Regression (this test found it): only DATABASE_URL treats an empty value as unset. `MIGRATIONS_DIR=` or `BACKUP_DIR=` in
  // .env resolves to the project folder itself, so knexfile.ts and migrate-guard.config.ts would
  // be listed as migrations, and backups would be written into the project root.
  it('treats an empty DIRECT_URL as unset', async () => {
    expect((await resolveLocations({}, { DIRECT_URL: '' }, project.dir)).directUrl).toBeNull();
    expect((await resolveLocations({}, { DIRECT_URL: '  ' }, project.dir)).directUrl).toBeNull();
  });

  it('treats empty MIGRATIONS_DIR and BACKUP_DIR as unset, like DATABASE_URL', async () => {
    const locations = await resolveLocations({}, { MIGRATIONS_DIR: '', BACKUP_DIR: '' }, project.dir);
    expect(locations.migrationsDir).toBe(at('migrations'));
    expect(locations.backupDir).toBe(at('backups'));
  });

  it('keeps an absolute DATABASE_URL as it is and resolves a relative one against the project', async () => {
    expect((await resolveLocations({}, { DATABASE_URL: '/srv/data/app.db' }, project.dir)).database).toBe('/srv/data/app.db');
    expect((await resolveLocations({}, { DATABASE_URL: 'data/app.db' }, project.dir)).database).toBe(at('data', 'app.db'));
  });
});

describe('resolveLocations: the config file', () => {
  it('finds migrate-guard.config.ts, else .js, else .mjs', async () => {
    await writeFile(at('migrate-guard.config.mjs'), 'export default {};');
    expect((await resolveLocations({}, {}, project.dir)).configFile).toBe(at('migrate-guard.config.mjs'));
    await writeFile(at('migrate-guard.config.js'), 'export default {};');
    expect((await resolveLocations({}, {}, project.dir)).configFile).toBe(at('migrate-guard.config.js'));
    await project.writeConfig('export default {};');
    expect((await resolveLocations({}, {}, project.dir)).configFile).toBe(at('migrate-guard.config.ts'));
  });

  it('refuses an explicit config file that does not exist (flag or env) with USAGE', async () => {
    await project.writeConfig('export default {};');
    await expect(resolveLocations({ config: 'missing.config.ts' }, {}, project.dir)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(at('missing.config.ts')),
    });
    await expect(resolveLocations({}, { MIGRATE_GUARD_CONFIG: '/nowhere/x.ts' }, project.dir)).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe("resolveLocations: the knexfile's connection", () => {
  const environments = `export default {
    development: { client: 'sqlite3', connection: { filename: './dev.db' } },
    production: { client: 'sqlite3', connection: '/srv/prod/prod.db' },
    test: { client: 'sqlite3', connection: 'sqlite:./test.db' },
    staging: { client: 'sqlite3', connection: { filename: '' } },
  };`;

  it('takes the connection for NODE_ENV, as a {filename} or a string', async () => {
    await knexfile(environments);
    expect((await resolveLocations({}, {}, project.dir)).database).toBe(at('dev.db'));
    expect((await resolveLocations({}, { NODE_ENV: 'development' }, project.dir)).database).toBe(at('dev.db'));
    expect((await resolveLocations({}, { NODE_ENV: 'production' }, project.dir)).database).toBe('/srv/prod/prod.db');
    expect((await resolveLocations({}, { NODE_ENV: 'test' }, project.dir)).database).toBe(at('test.db'));
  });

  // Regression (issue 19): both fell back to ./database.db, and `migrate` then created and migrated that new file.
  it('refuses a NODE_ENV section whose client has no usable connection, and a NODE_ENV the knexfile has no section for', async () => {
    await knexfile(environments);
    await expect(resolveLocations({}, { NODE_ENV: 'staging' }, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(
        /^knexfile\.ts \(staging\): client 'sqlite3' needs a connection naming its database: .*--db \/ DATABASE_URL/,
      ),
    });
    await expect(resolveLocations({}, { NODE_ENV: 'qa' }, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('knexfile.ts has no "qa" environment (it has development, production, test, staging)'),
    });
  });

  it('uses ./database.db when the knexfile names no database at all (only its migrations)', async () => {
    await knexfile(`export default { development: { migrations: { directory: './db/migrations' } } };`);
    const locations = await resolveLocations({}, {}, project.dir);
    expect(locations).toMatchObject({ database: at('database.db'), engine: 'sqlite', migrationsDir: at('db', 'migrations') });
  });

  it('reads a flat knexfile and a CommonJS one', async () => {
    await knexfile(`module.exports = { client: 'sqlite3', connection: { filename: 'flat.db' } };`, 'knexfile.cjs');
    expect((await resolveLocations({}, { NODE_ENV: 'production' }, project.dir)).database).toBe(at('flat.db'));
  });

  it('loses to DATABASE_URL and --db', async () => {
    await knexfile(environments);
    expect((await resolveLocations({}, { DATABASE_URL: 'env.db' }, project.dir)).database).toBe(at('env.db'));
    expect((await resolveLocations({ db: 'flag.db' }, { DATABASE_URL: 'env.db' }, project.dir)).database).toBe(at('flag.db'));
  });

  it('refuses a knexfile that cannot be loaded with CONFIG_INVALID', async () => {
    await knexfile(`throw new Error('knexfile broke');`);
    await expect(resolveLocations({}, {}, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('knexfile broke'),
    });
  });
});

describe('resolveLocations: the engine, from what the user named', () => {
  it('takes PostgreSQL from a postgres:// or postgresql:// URL, SQLite from a path, file: or sqlite:', async () => {
    const url = 'postgres://app:secret@db.internal:5432/shop';
    expect(await resolveLocations({}, { DATABASE_URL: ` ${url} ` }, project.dir)).toMatchObject({ engine: 'postgres', database: url });
    expect(await resolveLocations({ db: 'postgresql://db.internal/shop' }, {}, project.dir)).toMatchObject({ engine: 'postgres' });
    expect(await resolveLocations({ db: 'file:a.db' }, {}, project.dir)).toMatchObject({ engine: 'sqlite', database: at('a.db') });
    expect(await resolveLocations({ db: 'sqlite:b.db' }, {}, project.dir)).toMatchObject({ engine: 'sqlite', database: at('b.db') });
    expect(await resolveLocations({ db: './with:colon.db' }, {}, project.dir)).toMatchObject({
      engine: 'sqlite',
      database: at('with:colon.db'),
    });
  });

  it.each([
    ['--db', { db: 'mongodb://app:secret@mongo/shop' }, {}, 'mongodb'],
    ['DATABASE_URL', {}, { DATABASE_URL: 'redis://:secret@cache:6379/0' }, 'redis'],
    ['DATABASE_URL', {}, { DATABASE_URL: 'jdbc:postgresql://db/shop' }, 'jdbc'],
  ])('refuses an unknown scheme from %s, naming it and the supported ones', async (source, flags, env, scheme) => {
    const refusal = resolveLocations(flags, env, project.dir);
    await expect(refusal).rejects.toMatchObject({ code: 'ENGINE_UNSUPPORTED', exitCode: 1 });
    const { message } = (await refusal.catch((error: unknown) => error)) as Error;
    expect(message).toMatch(
      new RegExp(
        `^${source} "[^"]*": the scheme ${scheme}: is not a database migrate-guard supports; supported: file:, sqlite: or a path \\(SQLite\\); postgres://, postgresql:// \\(PostgreSQL\\); mysql://, mariadb:// \\(MySQL/MariaDB\\) `,
      ),
    );
    expect(message).not.toContain('secret');
  });

  it.each(['mysql://root:secret@127.0.0.1:3306/kutt', 'mariadb://127.0.0.1/kutt'])('takes %s as MySQL/MariaDB', async (url) => {
    expect(await resolveLocations({}, { DATABASE_URL: url }, project.dir)).toMatchObject({ engine: 'mysql', database: url });
  });
});

describe("resolveLocations: the knexfile's client", () => {
  it.each([
    ['knexfile.ts', `export default { development: { client: 'oracledb', connection: { user: 'app', connectString: 'db/ORCL' } } };`],
    ['knexfile.js', `module.exports = { client: 'mssql', connection: 'mssql://db/shop' };`],
  ])('refuses an unknown client (%s), naming it and the supported ones', async (name, source) => {
    await knexfile(source, name);
    const refusal = resolveLocations({}, {}, project.dir);
    await expect(refusal).rejects.toMatchObject({
      code: 'ENGINE_UNSUPPORTED',
      message: expect.stringMatching(
        new RegExp(
          `^${name.replace('.', '\\.')}.*: client '(oracledb|mssql)' is not a database migrate-guard supports; supported: sqlite3, better-sqlite3 \\(SQLite\\); pg, postgres, postgresql \\(PostgreSQL\\); mysql2, mysql \\(MySQL/MariaDB\\)\\. Nothing was changed$`,
        ),
      ),
    });
  });

  // Regression (issue 19): Kutt's knexfile. `migrate` created ./database.db, migrated it and exited 0.
  it.each(['mysql2', 'mysql'])('takes client %s with its connection object as MySQL/MariaDB', async (client) => {
    await knexfile(
      `export default { client: '${client}', connection: { host: '127.0.0.1', port: 3306, user: 'root', password: 'secret', database: 'kutt' } };`,
    );
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({
      engine: 'mysql',
      database: 'mysql://root:secret@127.0.0.1:3306/kutt',
    });
  });

  it('refuses a pg client without a usable connection, and a connection of another engine than its client', async () => {
    await knexfile(`export default { client: 'pg', connection: { host: 'db', user: 'app' } };`);
    await expect(resolveLocations({}, {}, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining("knexfile.ts: client 'pg' needs a connection naming its database: a postgres:// URL"),
    });
    await knexfile(`export default { client: 'pg', connection: './app.db' };`);
    await expect(resolveLocations({}, {}, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('its client is PostgreSQL but its connection "./app.db" names a SQLite database'),
    });
    await knexfile(`export default { client: 'sqlite3', connection: 'postgres://db/shop' };`);
    await expect(resolveLocations({}, {}, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('its client is SQLite'),
    });
  });

  it('does not read the knexfile connection when --db or DATABASE_URL names the database', async () => {
    await knexfile(`export default { client: 'mysql2', connection: () => { throw new Error('not called'); } };`);
    expect(await resolveLocations({}, { DATABASE_URL: 'app.db' }, project.dir)).toMatchObject({ engine: 'sqlite', database: at('app.db') });
  });

  it('builds the URL of a pg connection object, a Unix socket folder included; takes { connectionString }', async () => {
    await knexfile(
      `export default { client: 'pg', connection: { host: 'db.internal', port: 6432, user: 'app', password: 'p@ss/word', database: 'shop' } };`,
    );
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({
      engine: 'postgres',
      database: 'postgres://app:p%40ss%2Fword@db.internal:6432/shop',
    });
    await knexfile(`export default { client: 'postgresql', connection: { host: '/var/run/postgresql', database: 'shop' } };`);
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({
      engine: 'postgres',
      database: 'postgres://localhost/shop?host=%2Fvar%2Frun%2Fpostgresql',
    });
    await knexfile(`export default { client: 'pg', connection: { connectionString: 'postgresql://db/shop', ssl: false } };`);
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({ engine: 'postgres', database: 'postgresql://db/shop' });
  });

  it('reads a knexfile without a client by its connection alone', async () => {
    await knexfile(`export default { connection: 'postgres://db/shop' };`);
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({ engine: 'postgres', database: 'postgres://db/shop' });
    await knexfile(`export default { connection: { filename: './plain.db' } };`);
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({ engine: 'sqlite', database: at('plain.db') });
    await knexfile(`export default { connection: 'mongodb://db/shop' };`);
    await expect(resolveLocations({}, {}, project.dir)).rejects.toMatchObject({
      code: 'ENGINE_UNSUPPORTED',
      message: expect.stringContaining('mongodb:'),
    });
  });

  it('calls a connection function, sync or async, as knex does', async () => {
    await knexfile(`export default { client: 'better-sqlite3', connection: () => ({ filename: './sync.db' }) };`);
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({ engine: 'sqlite', database: at('sync.db') });
    await knexfile(
      `export default { client: 'pg', connection: async () => { await new Promise((resolve) => setImmediate(resolve)); return { host: 'db', database: 'shop' }; } };`,
    );
    expect(await resolveLocations({}, {}, project.dir)).toMatchObject({ engine: 'postgres', database: 'postgres://db/shop' });
    await knexfile(`export default { client: 'pg', connection: async () => { throw new Error('vault sealed'); } };`);
    await expect(resolveLocations({}, {}, project.dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'knexfile.ts: its connection function failed: vault sealed',
    });
  });
});
