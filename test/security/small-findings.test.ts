import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseReport, sha256, TempProject } from '../helpers/project.ts';

/**
 * Issue 24, the smaller findings: names that carry a newline or a path into generated SQL and
 * default file names, a password that reaches hooks through the inherited DATABASE_URL, and
 * credentials in a URL that do not parse and so end up printed as part of the path.
 */

let project: TempProject;

beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration(
    '001_items.ts',
    "export async function up({ context }) { await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); }); await context('items').insert([{ name: 'alpha' }, { name: 'beta' }]); }\n",
  );
  const migrated = await project.run(['migrate']);
  if (migrated.exitCode !== 0) throw new Error(`set-up migrate failed: ${migrated.all}`);
});
afterEach(async () => {
  await project.cleanup();
});

async function takeBackup(): Promise<string> {
  const result = await project.run(['backup', '--json']);
  expect(result.exitCode, result.all).toBe(0);
  return (parseReport(result.stdout) as { backup: { path: string } }).backup.path;
}

describe('names in generated SQL and default file names', () => {
  it('a backup file name with a newline does not put a statement into the restore-table header', async () => {
    const backup = await takeBackup();
    const evil = path.join(project.dir, 'old\nDELETE FROM items;\n.db');
    await copyFile(backup, evil);
    const out = path.join(project.dir, 'items.sql');
    const result = await project.run(['restore-table', evil, 'items', '--out', out, '--json']);
    expect(result.exitCode, result.all).toBe(0);
    const lines = (await readFile(out, 'utf8')).split('\n').filter((line) => line !== '');
    // Every line is a comment or one of the export's own statements: nothing a name slipped in.
    for (const line of lines) expect(line, line).toMatch(/^(-- |BEGIN;$|COMMIT;$|INSERT INTO "items" )/);
    expect(lines.filter((line) => line.startsWith('INSERT'))).toHaveLength(2);
    expect(lines[0]).toContain('old\\u000aDELETE FROM items;\\u000a.db');
  });

  it('a table named ../../x gets its default output file in the working folder', async () => {
    // Raw SQL: knex would read the dots as schema separators.
    await project.writeMigration(
      '002_evil.ts',
      'export async function up({ context }) { await context.raw(\'CREATE TABLE "../../x" (id INTEGER PRIMARY KEY)\'); await context.raw(\'INSERT INTO "../../x" (id) VALUES (1)\'); }\n',
    );
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const backup = await takeBackup();
    const outside = path.resolve(project.dir, '../..');
    const before = new Set(await readdir(outside));
    try {
      const result = await project.run(['restore-table', backup, '../../x', '--json']);
      expect(result.exitCode, result.all).toBe(0);
      const out = (parseReport(result.stdout) as { out: string }).out;
      expect(path.dirname(out)).toBe(project.dir);
      expect(existsSync(out)).toBe(true);
    } finally {
      // On a version that wrote outside, take what it wrote away again.
      for (const name of await readdir(outside))
        if (!before.has(name) && name.startsWith('x-from-')) await rm(path.join(outside, name), { force: true });
    }
    expect((await readdir(outside)).filter((name) => !before.has(name) && name.startsWith('x-from-'))).toEqual([]);
  });
});

describe('passwords in URLs', () => {
  const secret = 'hunter2pw';

  it('hooks get DATABASE_URL without its password', async () => {
    const url = `sqlite://deploy:${secret}@${project.db}`;
    await project.writeConfig("export default { hooks: { beforeMigrate: 'env > hook-env.txt' } };\n");
    await project.writeMigration(
      '002_more.ts',
      "export async function up({ context }) { await context('items').insert({ name: 'more' }); }\n",
    );
    const result = await project.run(['migrate'], { env: { DATABASE_URL: url } });
    expect(result.exitCode, result.all).toBe(0);
    const env = await readFile(path.join(project.dir, 'hook-env.txt'), 'utf8');
    expect(env).toContain('DATABASE_URL=sqlite://deploy:***@');
    expect(env).not.toContain(secret);
  });

  it('a PostgreSQL password that does not parse is refused, and not printed', async () => {
    const result = await project.run(['status', '--json'], { env: { DATABASE_URL: `postgres://app:${secret}%zz@127.0.0.1:5432/app` } });
    expect(result.exitCode, result.all).toBe(1);
    const report = parseReport(result.stdout) as { error: { code: string; message: string } };
    expect(report.error.code).toBe('USAGE');
    expect(report.error.message).toMatch(/percent-encode/);
    expect(result.all).not.toContain(secret);
  });

  it('an unencoded # in a SQLite URL password is refused, never printed as part of the path', async () => {
    const before = await sha256(project.db);
    const result = await project.run(['status', '--json'], { env: { DATABASE_URL: `sqlite://deploy:pa#${secret}@${project.db}` } });
    expect(result.all).not.toContain(secret);
    expect(result.exitCode, result.all).toBe(1);
    expect((parseReport(result.stdout) as { error: { code: string } }).error.code).toBe('USAGE');
    expect(await sha256(project.db)).toBe(before);
  });
});
