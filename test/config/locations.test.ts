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
    const env = { DATABASE_URL: 'env.db', MIGRATIONS_DIR: 'env-migrations', BACKUP_DIR: 'env-backups', MIGRATE_GUARD_CONFIG: 'env.config.ts', DIRECT_URL: 'postgres://env@db/app' };
    const flags = { db: 'file:flag.db', migrations: 'flag-migrations', backupDir: 'flag-backups', config: 'flag.config.ts', directUrl: 'postgres://flag@db/app' };
    expect(await resolveLocations(flags, env, project.dir)).toEqual({
      database: at('flag.db'),
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

  it('falls back to ./database.db when the knexfile names no file for NODE_ENV', async () => {
    await knexfile(environments);
    expect((await resolveLocations({}, { NODE_ENV: 'staging' }, project.dir)).database).toBe(at('database.db'));
    expect((await resolveLocations({}, { NODE_ENV: 'qa' }, project.dir)).database).toBe(at('database.db'));
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
