import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TempProject, dump, parseReport, query, sha256 } from '../helpers/project.ts';
import { addItem, createItems, partialThenThrow } from '../helpers/migrations.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration('001_items.ts', createItems);
});
afterEach(async () => {
  await project.cleanup();
});

describe('hooks', () => {
  it('runs beforeMigrate and afterMigrate around a successful rollout', async () => {
    await project.writeConfig(`export default {
      hooks: { beforeMigrate: 'echo stopped >> hooks.log', afterMigrate: 'echo "started $MIGRATE_GUARD_OUTCOME" >> hooks.log' },
    };`);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await readFile(path.join(project.dir, 'hooks.log'), 'utf8')).toBe('stopped\nstarted applied\n');
    expect(parseReport(result.stdout).hooks.map((hook: { hook: string }) => hook.hook)).toEqual(['beforeMigrate', 'afterMigrate']);
  });

  it('aborts with nothing changed when beforeMigrate fails', async () => {
    await project.run(['migrate']);
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    await project.writeConfig(`export default { hooks: { beforeMigrate: 'echo pm2 not found >&2; exit 7' } };`);
    const before = await sha256(project.db);
    const backups = await project.backupFiles();
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode).toBe(1);
    const report = parseReport(result.stdout);
    expect(report.error.code).toBe('HOOK_FAILED');
    expect(report.error.message).toContain('exit 7');
    expect(report.error.message).toContain('pm2 not found');
    expect(await sha256(project.db)).toBe(before);
    expect(await project.backupFiles()).toEqual(backups);
  });

  it('gives onFailure the facts and restarts the app after a verified restore', async () => {
    await project.run(['migrate']);
    await project.writeMigration('002_broken.ts', partialThenThrow);
    await project.writeConfig(`export default { hooks: {
      onFailure: 'echo "$MIGRATE_GUARD_EXIT_CODE $MIGRATE_GUARD_FAILED_MIGRATION $MIGRATE_GUARD_PHASE" > failure.log',
      afterMigrate: 'echo "$MIGRATE_GUARD_OUTCOME" > after.log',
    } };`);
    const before = await dump(project.db);
    const result = await project.run(['migrate']);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(await readFile(path.join(project.dir, 'failure.log'), 'utf8')).toBe('2 002_broken migrate\n');
    expect(await readFile(path.join(project.dir, 'after.log'), 'utf8')).toBe('restored\n');
    expect(await dump(project.db)).toBe(before);
  });
});

describe('checks from the config file', () => {
  it('restores when a custom check returns a failure message (exit 2)', async () => {
    await project.run(['migrate']);
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    await project.writeConfig(`export default { checks: { custom: [
      { name: 'no-gamma', run: async (knex) => (await knex('items').where({ name: 'gamma' }).first()) ? 'gamma is not allowed' : undefined },
    ] } };`);
    const before = await dump(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    const report = parseReport(result.stdout);
    expect(report.checks).toContainEqual({ name: 'custom:no-gamma', ok: false, detail: 'gamma is not allowed' });
    expect(await dump(project.db)).toBe(before);
  });

  it('restores when a configured smoke query fails', async () => {
    await project.writeConfig(`export default { checks: { smoke: ['SELECT COUNT(*) FROM universe'] } };`);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    const smoke = parseReport(result.stdout).checks.find((check: { name: string }) => check.name === 'smoke');
    expect(smoke.detail).toContain('no such table: universe');
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE name = 'items'")).toEqual([]);
  });

  it('refuses a config with an unknown key or a wrong type in one line, exit 1', async () => {
    await project.writeConfig(`export default { hookz: {}, checks: { integrity: 'sometimes' } };`);
    const result = await project.run(['migrate']);
    expect(result.exitCode).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('hookz');
    expect(lines[0]).toContain('checks.integrity');
    expect(existsSync(project.db)).toBe(false);
  });
});

describe('where the database is', () => {
  it('accepts DATABASE_URL as file: and sqlite: URLs and from .env', async () => {
    const viaFile = await project.run(['migrate'], { env: { DATABASE_URL: `file:${path.join(project.dir, 'a.db')}` } });
    expect(viaFile.exitCode, viaFile.stderr).toBe(0);
    expect(await query(path.join(project.dir, 'a.db'), 'SELECT COUNT(*) AS n FROM items')).toEqual([{ n: 2 }]);
    const viaSqlite = await project.run(['migrate'], { env: { DATABASE_URL: 'sqlite:b.db' } });
    expect(viaSqlite.exitCode, viaSqlite.stderr).toBe(0);
    expect(existsSync(path.join(project.dir, 'b.db'))).toBe(true);
    await writeFile(path.join(project.dir, '.env'), 'DATABASE_URL=./from-env.db\n');
    const viaDotenv = await project.run(['migrate'], { env: { DATABASE_URL: undefined } });
    expect(viaDotenv.exitCode, viaDotenv.stderr).toBe(0);
    expect(existsSync(path.join(project.dir, 'from-env.db'))).toBe(true);
  });

  it("reads knexfile.ts's connection for NODE_ENV when DATABASE_URL is unset", async () => {
    await writeFile(
      path.join(project.dir, 'knexfile.ts'),
      `export default { production: { client: 'sqlite3', connection: { filename: './prod.db' } }, development: { client: 'sqlite3', connection: { filename: './dev.db' } } };`,
    );
    const result = await project.run(['migrate'], { env: { DATABASE_URL: undefined, NODE_ENV: 'development' } });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(existsSync(path.join(project.dir, 'dev.db'))).toBe(true);
    expect(existsSync(path.join(project.dir, 'prod.db'))).toBe(false);
  });

  it('in production, refuses to create a missing database unless --create is given', async () => {
    const refused = await project.run(['migrate'], { env: { NODE_ENV: 'production' } });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('--create');
    expect(existsSync(project.db)).toBe(false);
    const created = await project.run(['migrate', '--create'], { env: { NODE_ENV: 'production' } });
    expect(created.exitCode, created.stderr).toBe(0);
  });

  it('refuses a damaged database, leaving it as it was', async () => {
    await project.run(['migrate']);
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    // Overwrite the middle of the file: the header stays valid, the b-tree does not.
    const bytes = await readFile(project.db);
    bytes.fill(0x41, 4096 + 8, bytes.length - 100);
    await writeFile(project.db, bytes);
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode).toBe(1);
    expect(parseReport(result.stdout).error.code).toBe('PREFLIGHT_FAILED');
    expect(await sha256(project.db)).toBe(before);
  });
});
