import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { parseReport, TempProject, waitForFile } from '../helpers/project.ts';

/**
 * A PostgreSQL database has no "beside": the run journal lives in the backup folder. Every command
 * must look for it where the run put it (`--backup-dir`), never in a default folder (issue 19).
 */
describe('PostgreSQL: the run journal is where --backup-dir says', () => {
  let project: TempProject;
  let db: TestDatabase;
  beforeEach(async () => {
    project = await TempProject.create();
    db = await postgresDatabase('mg_state');
    await project.writeConfig("export default { transactions: 'per-migration' };\n");
  });
  afterEach(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  it('the dry run sees an interrupted run in the backup folder the run used, and the next migrate recovers it', async () => {
    const backupDir = path.join(project.dir, 'elsewhere');
    const marker = path.join(project.dir, 'running');
    await project.writeMigration(
      '001_items.js',
      `exports.up = async (knex) => {
         await knex.schema.createTable('items', (t) => { t.increments('id'); t.text('name'); });
         if (process.env.HANG !== '1') return;
         require('node:fs').writeFileSync(${JSON.stringify(marker)}, '');
         for (;;) await new Promise((resolve) => setTimeout(resolve, 20));
       };
       exports.down = async (knex) => { await knex.schema.dropTable('items'); };`,
    );
    const env = { DATABASE_URL: db.url };
    const killed = project.run(['migrate', '--backup-dir', backupDir], { env: { ...env, HANG: '1' } });
    await waitForFile(marker, 120_000);
    killed.kill('SIGKILL');
    await killed;
    // Not in the default folder: in the one the run was given.
    expect(existsSync(path.join(project.dir, 'backups'))).toBe(false);

    const preview = await project.run(['migrate', '--dry-run', '--backup-dir', backupDir], { env });
    expect(preview.exitCode, preview.all).toBe(0);
    expect(preview.all).toMatch(/an interrupted migrate \(pid \d+\) left the database changed: the real run will first restore/);

    const next = await project.run(['migrate', '--json', '--backup-dir', backupDir], { env });
    expect(next.exitCode, next.all).toBe(0);
    expect(parseReport(next.stdout).recovered).toMatchObject({ state: 'migrating' });
    expect(await db.query("SELECT name FROM migrate_guard_migrations WHERE name = '001_items'")).toHaveLength(1);
  }, 240_000);
});
