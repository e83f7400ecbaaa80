import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { REPO, TempProject, dump, exec, parseReport, query, sha256, sqlite3 } from '../helpers/project.ts';
import { createItems } from '../helpers/migrations.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration('001_items.ts', createItems);
  const first = await project.run(['migrate']);
  expect(first.exitCode, first.stderr).toBe(0);
});
afterEach(async () => {
  await project.cleanup();
});

const addColumn = `
export async function up({ context }) { await context.schema.alterTable('items', (t) => { t.integer('qty').notNullable().defaultTo(0); }); }
export async function down({ context }) { await context.schema.alterTable('items', (t) => { t.dropColumn('qty'); }); }
`;
const dropColumn = `
export async function up({ context }) { await context.schema.alterTable('items', (t) => { t.dropColumn('qty'); }); }
`;

async function fileHashes(db: string): Promise<string[]> {
  const hashes: string[] = [];
  for (const suffix of ['', '-wal', '-shm']) hashes.push(await sha256(`${db}${suffix}`));
  return hashes;
}

describe('migrate --dry-run', () => {
  // Mounting a tmpfs needs root (CI runs as root).
  it.skipIf(process.getuid?.() !== 0)(
    'on a full TMPDIR: DISK_FULL, exit 1, the database unchanged and no scratch copy left there',
    async () => {
      await exec(
        project.db,
        'INSERT INTO items (name) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000) SELECT hex(randomblob(100)) FROM n;',
      );
      await project.writeMigration('002_add_qty.ts', addColumn);
      const before = await sha256(project.db);
      const tmp = path.join(project.dir, 'small-tmp');
      await mkdir(tmp);
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', tmp]);
      try {
        const result = await project.run(['migrate', '--dry-run', '--json'], { env: { TMPDIR: tmp } });
        expect(result.exitCode, result.all).toBe(1);
        const report = parseReport(result.stdout);
        expect(report.error.code).toBe('DISK_FULL');
        expect(report.error.message).toMatch(/^out of disk space \(.*SQLITE_FULL.*\): free space/);
        // No scratch copy left; tsx's compile cache (tsx-<uid>) is there since the migrations are
        // loaded and checked before the copy is made.
        expect((await readdir(tmp)).filter((name) => !/^tsx-\d+$/.test(name))).toEqual([]);
        expect(await sha256(project.db)).toBe(before);
      } finally {
        await execa('umount', [tmp]).catch(() => execa('umount', ['-l', tmp]));
      }
    },
  );

  it('lists the SQL of an add-column and a drop-column migration and warns about the drop', async () => {
    await project.writeMigration('002_add_qty.ts', addColumn);
    await project.writeMigration('003_drop_qty.ts', dropColumn);
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--dry-run', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ command: 'migrate', dryRun: true, ok: true, pending: ['002_add_qty', '003_drop_qty'] });
    const [add, drop] = report.plan;
    expect(add.sql).toContain("alter table `items` add column `qty` integer not null default '0'");
    expect(add.warnings).toEqual([]);
    // knex rebuilds the table to drop a column on SQLite: the plan shows the whole rebuild.
    expect(drop.sql.some((sql: string) => /^CREATE TABLE `_knex_temp_alter\d+`/.test(sql))).toBe(true);
    expect(drop.sql.some((sql: string) => /^INSERT INTO "_knex_temp_alter\d+" SELECT "id", "name" FROM "items"/.test(sql))).toBe(true);
    expect(drop.sql.some((sql: string) => /^ALTER TABLE "_knex_temp_alter\d+" RENAME TO "items"/.test(sql))).toBe(true);
    expect(drop.warnings).toContain('drops column items.qty');
    expect(report.checks.every((check: { ok: boolean }) => check.ok)).toBe(true);
    // Nothing happened for real.
    expect(await sha256(project.db)).toBe(before);
    expect(await query(project.db, 'SELECT name FROM migrate_guard_migrations')).toEqual([{ name: '001_items' }]);
  });

  it('reports a failing migration by name, exit 1, with db, -wal and -shm byte-for-byte unchanged while the app holds it open', async () => {
    const app = new sqlite3.Database(project.db);
    const run = (sql: string) => new Promise<void>((resolve, reject) => app.exec(sql, (error) => (error ? reject(error) : resolve())));
    try {
      await run("PRAGMA journal_mode = WAL; INSERT INTO items (name) VALUES ('app-write');");
      await project.writeMigration('002_add_qty.ts', addColumn);
      await project.writeMigration('003_broken.sql', "INSERT INTO items (name) VALUES ('x'); INSERT INTO nowhere VALUES (1);");
      await project.writeMigration('004_after.ts', addColumn.replace(/qty/g, 'other'));
      const backupsBefore = await project.backupFiles();
      const before = await fileHashes(project.db);
      const result = await project.run(['migrate', '--dry-run', '--json']);
      expect(result.exitCode, result.stderr).toBe(1);
      const report = parseReport(result.stdout);
      expect(report.ok).toBe(false);
      expect(report.plan.map((entry: { name: string; status: string }) => [entry.name, entry.status])).toEqual([
        ['002_add_qty', 'would-apply'],
        ['003_broken', 'would-fail'],
        ['004_after', 'not-run'],
      ]);
      expect(report.plan[1].error).toContain('no such table: nowhere');
      expect(report.plan[1].sql).toEqual(['BEGIN IMMEDIATE', "INSERT INTO items (name) VALUES ('x')", 'INSERT INTO nowhere VALUES (1)']);
      expect(await fileHashes(project.db)).toEqual(before);
      expect(await project.backupFiles()).toEqual(backupsBefore);
    } finally {
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it('prints a readable plan for people', async () => {
    await project.writeMigration('002_add_qty.ts', addColumn);
    await project.writeMigration('003_wipe.ts', `export async function up({ context }) { await context('items').delete(); }`);
    const result = await project.run(['migrate', '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/002_add_qty {2}ok \(\d+ ms on the copy\)/);
    expect(result.stderr).toContain('      alter table `items` add column `qty`');
    expect(result.stderr).toContain('! WARNING unbounded-delete: DELETE without WHERE on items');
    expect(result.stderr).toContain('! ERROR rows-shrunk: row count of items shrank: 2 → 0 (migrations/003_wipe.ts:1)');
  });
});

describe('dry run, continued', () => {
  it('reads a WAL database a crashed writer left (a -wal, no -shm) without creating a -shm', async () => {
    // A writer that dies holding the database leaves its -wal; here its -shm went too (a reboot).
    const writer = execa(
      'node',
      [
        '-e',
        `
      const sqlite3 = require(${JSON.stringify(path.join(REPO, 'node_modules/sqlite3'))});
      const db = new sqlite3.Database(${JSON.stringify(project.db)});
      db.exec("PRAGMA journal_mode = WAL; INSERT INTO items (name) VALUES ('in-the-wal');", () => { console.log('written'); setInterval(() => {}, 1000); });
    `,
      ],
      { reject: false },
    );
    await new Promise<void>((resolve) => writer.stdout!.on('data', () => resolve()));
    writer.kill('SIGKILL');
    await writer;
    await rm(`${project.db}-shm`);
    expect(existsSync(`${project.db}-wal`)).toBe(true);
    const before = [await sha256(project.db), await sha256(`${project.db}-wal`)];
    await project.writeMigration('002_add_qty.ts', addColumn);
    const result = await project.run(['migrate', '--dry-run', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(existsSync(`${project.db}-shm`)).toBe(false);
    expect([await sha256(project.db), await sha256(`${project.db}-wal`)]).toEqual(before);
    const status = await project.run(['status', '--json']);
    expect(status.exitCode).toBe(0);
    expect(existsSync(`${project.db}-shm`)).toBe(false);
  });

  it('refuses like the real run would: an edited applied migration', async () => {
    await writeFile(path.join(project.migrations, '001_items.ts'), `${createItems}\n// edited\n`);
    await project.writeMigration('002_add_qty.ts', addColumn);
    const result = await project.run(['migrate', '--dry-run', '--json']);
    expect(result.exitCode).toBe(1);
    expect(parseReport(result.stdout)).toMatchObject({ ok: false, restored: false, error: { code: 'MIGRATION_CHANGED' } });
  });
});

describe('status', () => {
  it('lists applied and pending migrations and flags an edited applied one', async () => {
    await writeFile(path.join(project.migrations, '001_items.ts'), `${createItems}\n// edited\n`);
    await project.writeMigration('002_add_qty.ts', addColumn);
    const result = await project.run(['status', '--json']);
    expect(result.exitCode).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.applied).toEqual([expect.objectContaining({ name: '001_items', file: 'changed' })]);
    expect(report.applied[0].appliedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(report.pending).toEqual(['002_add_qty']);
    expect(report.changed).toEqual(['001_items']);
    const human = await project.run(['status']);
    expect(human.stderr).toContain('001_items');
    expect(human.stderr).toContain('! file changed since it ran');
  });
});

describe('down', () => {
  it('reverts the last migration under the guard', async () => {
    await project.writeMigration('002_add_qty.ts', addColumn);
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    expect((await query(project.db, 'PRAGMA table_info(items)')).map((c) => c.name)).toEqual(['id', 'name', 'qty']);
    const result = await project.run(['down', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ command: 'down', ok: true, reverted: ['002_add_qty'] });
    expect(report.backup).toMatch(/pre-rollout/);
    // knex rebuilt the table to drop the column: same columns and rows as before 002.
    expect((await query(project.db, 'PRAGMA table_info(items)')).map((c) => c.name)).toEqual(['id', 'name']);
    expect(await query(project.db, 'SELECT * FROM items ORDER BY id')).toEqual([
      { id: 1, name: 'alpha' },
      { id: 2, name: 'beta' },
    ]);
    expect(await query(project.db, 'SELECT name FROM migrate_guard_migrations')).toEqual([{ name: '001_items' }]);
  });

  it('is restored when a down throws (exit 2)', async () => {
    await project.writeMigration(
      '002_bad_down.ts',
      `export async function up({ context }) { await context('items').insert({ name: 'gamma' }); }
       export const config = { transaction: false };
       export async function down({ context }) { await context('items').delete(); throw new Error('down exploded'); }`,
    );
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const before = await dump(project.db);
    const result = await project.run(['down', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(parseReport(result.stdout).failed).toMatchObject({ migration: '002_bad_down', message: 'down exploded' });
    expect(await dump(project.db)).toBe(before);
  });

  it('refuses before anything changes when a migration has no down, naming it', async () => {
    await project.writeMigration(
      '002_no_down.ts',
      `export async function up({ context }) { await context('items').insert({ name: 'g' }); }`,
    );
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const before = await sha256(project.db);
    const backups = await project.backupFiles();
    const result = await project.run(['down', '--step', '2', '--json']);
    expect(result.exitCode).toBe(1);
    expect(parseReport(result.stdout).error).toMatchObject({ code: 'NO_DOWN' });
    expect(parseReport(result.stdout).error.message).toContain('002_no_down');
    expect(await sha256(project.db)).toBe(before);
    expect(await project.backupFiles()).toEqual(backups);
  });

  it('refuses --to together with --step (exit 1)', async () => {
    const result = await project.run(['down', '--to', '001_items', '--step', '1', '--json']);
    expect(result.exitCode).toBe(1);
    expect(parseReport(result.stdout)).toMatchObject({
      command: 'down',
      ok: false,
      applied: [],
      restored: false,
      error: { code: 'USAGE' },
    });
  });

  it('supports --to and --dry-run', async () => {
    await project.writeMigration('002_add_qty.ts', addColumn);
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const dry = await project.run(['down', '--to', '001_items', '--dry-run', '--json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(parseReport(dry.stdout).plan.map((entry: { name: string }) => entry.name)).toEqual(['002_add_qty', '001_items']);
    expect(parseReport(dry.stdout).plan[1].warnings).toContain('drops table items (2 rows)');
    const real = await project.run(['down', '--to', '001_items']);
    expect(real.exitCode, real.stderr).toBe(0);
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE name = 'items'")).toEqual([]);
  });
});

describe('make', () => {
  it('writes a migration that type-checks and runs', async () => {
    const result = await project.run(['make', 'add_notes', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const [file] = parseReport(result.stdout).files as string[];
    expect(path.basename(file!)).toMatch(/^\d{14}_add_notes\.ts$/);
    await symlink(path.join(REPO, 'node_modules'), path.join(project.dir, 'node_modules'));
    const tsc = await execa(
      'node',
      [
        path.join(REPO, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--skipLibCheck',
        file!,
      ],
      { cwd: project.dir, reject: false },
    );
    expect(tsc.exitCode, tsc.stdout).toBe(0);
    const migrate = await project.run(['migrate', '--json']);
    expect(migrate.exitCode, migrate.stderr).toBe(0);
    expect(parseReport(migrate.stdout).applied).toEqual([path.basename(file!, '.ts')]);
  });

  it('writes .sql and .down.sql with --sql, and refuses a bad name', async () => {
    const result = await project.run(['make', 'add-index', '--sql']);
    expect(result.exitCode).toBe(0);
    const files = (await readdir(project.migrations)).filter((name) => name.includes('add-index'));
    expect(files.sort()).toEqual([expect.stringMatching(/_add-index\.down\.sql$/), expect.stringMatching(/_add-index\.sql$/)]);
    const bad = await project.run(['make', '../../etc/evil']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('must be letters, digits');
  });
});
