import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { TempProject, dump, exec, parseReport, query, sha256, waitForFile, sqlite3 } from '../helpers/project.ts';
import { addItem, createItems, insertThenHang, orphanRow, partialThenThrow } from '../helpers/migrations.ts';

let project: TempProject;

beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

async function baseline(): Promise<string> {
  await project.writeMigration('001_items.ts', createItems);
  const first = await project.run(['migrate']);
  expect(first.exitCode, first.all).toBe(0);
  return dump(project.db);
}

describe('migrate', () => {
  it('applies pending migrations after a verified backup and reports them', async () => {
    await project.writeMigration('001_items.ts', createItems);
    await project.writeMigration('002_gamma.sql', "INSERT INTO items (name) VALUES ('gamma');");
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ command: 'migrate', ok: true, exitCode: 0, restored: false, failed: null });
    expect(report.applied).toEqual(['001_items', '002_gamma']);
    expect(report.checks.every((check: { ok: boolean }) => check.ok)).toBe(true);
    expect(await query(project.db, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }, { name: 'gamma' }]);
    const applied = await query<{ name: string; checksum: string }>(
      project.db,
      'SELECT name, checksum FROM migrate_guard_migrations ORDER BY name',
    );
    expect(applied.map((row) => row.name)).toEqual(['001_items', '002_gamma']);
    expect(applied[0]!.checksum).toBe(await sha256(path.join(project.migrations, '001_items.ts')));

    // The backup is the database as it was before, with a manifest that proves it.
    const manifest = JSON.parse(await readFile(`${report.backup}.manifest.json`, 'utf8'));
    expect(manifest).toMatchObject({ kind: 'pre-rollout', verified: true, sha256: await sha256(report.backup) });
    expect(await query(report.backup, "SELECT name FROM sqlite_master WHERE name = 'items'")).toEqual([]);
    expect(existsSync(`${project.db}.migrate-guard.journal.json`)).toBe(false);
  });

  it('takes no backup when nothing is pending', async () => {
    await baseline();
    const before = await project.backupFiles();
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode).toBe(0);
    expect(parseReport(result.stdout)).toMatchObject({ ok: true, pending: [], backup: null });
    expect(await project.backupFiles()).toEqual(before);
    expect(result.stderr).toContain('up to date');
  });

  it('restores the backup when a migration fails after a partial change (exit 2)', async () => {
    const before = await baseline();
    await project.writeMigration('002_ok.ts', addItem('gamma'));
    await project.writeMigration('003_broken.ts', partialThenThrow);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ ok: false, restored: true, applied: [] });
    expect(report.failed).toMatchObject({ migration: '003_broken', phase: 'migrate' });
    expect(report.failed.message).toContain('boom: the deploy script had a bug');
    expect(report.migrations).toEqual([
      expect.objectContaining({ name: '002_ok', status: 'rolled-back' }),
      expect.objectContaining({ name: '003_broken', status: 'failed' }),
    ]);
    expect(await dump(project.db)).toBe(before);
    expect(result.stderr).toContain('restore verified');
  });

  it('restores when the migrations leave a foreign-key violation (exit 2)', async () => {
    const before = await baseline();
    await project.writeMigration('002_orphan.ts', orphanRow);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.stderr).toBe(2);
    const report = parseReport(result.stdout);
    expect(report.failed).toMatchObject({ migration: null, phase: 'check' });
    const fk = report.checks.find((check: { name: string }) => check.name === 'foreign-keys');
    expect(fk).toMatchObject({ ok: false });
    expect(fk.detail).toContain('tags rowid 1');
    expect(await dump(project.db)).toBe(before);
  });

  it('restores into a database another connection holds open in WAL mode', async () => {
    await baseline();
    const app = new sqlite3.Database(project.db);
    const all = (sql: string) =>
      new Promise<unknown[]>((resolve, reject) => app.all(sql, (error, rows) => (error ? reject(error) : resolve(rows))));
    try {
      await all('PRAGMA journal_mode = WAL');
      await all("INSERT INTO items (name) VALUES ('written-by-app')");
      const before = await dump(project.db);
      await project.writeMigration('002_broken.ts', partialThenThrow);
      const result = await project.run(['migrate']);
      expect(result.exitCode, result.stderr).toBe(2);
      // The application's own open connection sees the pre-rollout data, not a mix.
      expect(await all('SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }, { name: 'written-by-app' }]);
      expect(await all("SELECT name FROM sqlite_master WHERE name = 'half_done'")).toEqual([]);
      expect(await all('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      expect(await dump(project.db)).toBe(before);
    } finally {
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it('refuses a second concurrent run with exit 1, naming the holder', async () => {
    await baseline();
    const marker = path.join(project.dir, 'running');
    await project.writeMigration('002_slow.ts', insertThenHang(marker, 4));
    const first = project.run(['migrate'], { env: { HANG: '1' } });
    await waitForFile(marker);
    const second = await project.run(['migrate', '--json']);
    expect(second.exitCode).toBe(1);
    const report = parseReport(second.stdout);
    expect(report.error.code).toBe('LOCK_HELD');
    expect(report.error.message).toContain(`pid ${first.pid}`);
    const done = await first;
    expect(done.exitCode, done.stderr).toBe(0);
    expect(await query(project.db, "SELECT COUNT(*) AS n FROM items WHERE name = 'from-hanging-migration'")).toEqual([{ n: 1 }]);
  });

  it('rolls back a run killed with SIGKILL on the next run, which then applies everything once', async () => {
    const before = await baseline();
    const marker = path.join(project.dir, 'running');
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    await project.writeMigration('003_hang.ts', insertThenHang(marker));
    const killed = project.run(['migrate'], { env: { HANG: '1' } });
    await waitForFile(marker);
    // The killed run committed 002 and half of 003: the database is changed.
    expect(await dump(project.db)).not.toBe(before);
    killed.kill('SIGKILL');
    await killed;
    // The application came back up and wrote before anyone ran migrate again.
    await exec(project.db, "INSERT INTO items (name) VALUES ('written-after-the-crash')");

    const next = await project.run(['migrate', '--json']);
    expect(next.exitCode, next.stderr).toBe(0);
    const report = parseReport(next.stdout);
    expect(report.recovered).toMatchObject({ state: 'migrating' });
    // Recovery undid the half-run, but kept what was there, the app's write included.
    expect(report.recovered.preRestoreCopy).toMatch(/\/app\.db\.pre-restore\.\d{8}_\d{6}$/);
    expect(await query(report.recovered.preRestoreCopy, "SELECT COUNT(*) AS n FROM items WHERE name = 'written-after-the-crash'")).toEqual([
      { n: 1 },
    ]);
    expect(report.applied).toEqual(['002_gamma', '003_hang']);
    expect(next.stderr).toContain('interrupted');
    expect(next.stderr).toContain('took over the lock');
    expect(await query(project.db, 'SELECT name, COUNT(*) AS n FROM items GROUP BY name ORDER BY name')).toEqual([
      { name: 'alpha', n: 1 },
      { name: 'beta', n: 1 },
      { name: 'from-hanging-migration', n: 1 },
      { name: 'gamma', n: 1 },
    ]);
  });

  it('stops and restores on SIGTERM mid-migration (exit 2)', async () => {
    const before = await baseline();
    const marker = path.join(project.dir, 'running');
    await project.writeMigration('002_hang.ts', insertThenHang(marker));
    const run = project.run(['migrate', '--json'], { env: { HANG: '1' } });
    await waitForFile(marker);
    run.kill('SIGTERM');
    const result = await run;
    expect(result.exitCode, result.stderr).toBe(2);
    expect(parseReport(result.stdout).failed).toMatchObject({ phase: 'interrupted' });
    expect(await dump(project.db)).toBe(before);
  });

  it('refuses a file that is not SQLite and leaves it untouched', async () => {
    await project.writeMigration('001_items.ts', createItems);
    await writeFile(project.db, 'this is a CSV export, not a database\n'.repeat(100));
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode).toBe(1);
    expect(parseReport(result.stdout).error.code).toBe('NOT_SQLITE');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await sha256(project.db)).toBe(before);
    expect(existsSync(`${project.db}-journal`)).toBe(false);
    expect(await project.backupFiles()).toEqual([]);
  });

  it('exits 1 with the database unchanged when the backup cannot be written', async () => {
    await baseline();
    // Make the database bigger than the file-size limit the run gets.
    await exec(
      project.db,
      'CREATE TABLE blob_data (b); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) INSERT INTO blob_data SELECT randomblob(500) FROM c;',
    );
    const before = await sha256(project.db);
    const backupsBefore = await project.backupFiles();
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    const result = await project.run(['migrate', '--json'], { shellPrefix: 'ulimit -f 256' });
    expect(result.exitCode, result.stderr).toBe(1);
    expect(parseReport(result.stdout).error.code).toBe('BACKUP_FAILED');
    expect(await sha256(project.db)).toBe(before);
    expect(await project.backupFiles()).toEqual(backupsBefore);
    expect(existsSync(`${project.db}.migrate-guard.journal.json`)).toBe(false);
  });

  it('refuses to run when an applied migration was edited, naming it', async () => {
    await baseline();
    await writeFile(path.join(project.migrations, '001_items.ts'), `${createItems}\n// edited after it ran\n`);
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode).toBe(1);
    const report = parseReport(result.stdout);
    expect(report.error.code).toBe('MIGRATION_CHANGED');
    expect(report.error.message).toContain('001_items');
    // The refusal's report still says what was pending, as a run's report would.
    expect(report).toMatchObject({ ok: false, applied: [], pending: ['002_gamma'], failed: { phase: 'refused' } });
    expect(await sha256(project.db)).toBe(before);
  });

  it('refuses when the backup folder has too little free space', async () => {
    await baseline();
    await project.writeConfig('export default { thresholds: { freeSpaceFactor: 1e12 } };\n');
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    const before = await sha256(project.db);
    const result = await project.run(['migrate']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/free in .*needed/);
    expect(await sha256(project.db)).toBe(before);
  });

  it('applies up to --to and refuses an unknown name', async () => {
    await baseline();
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    await project.writeMigration('003_delta.ts', addItem('delta'));
    const unknown = await project.run(['migrate', '--to', '009_nope']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('009_nope');
    const partial = await project.run(['migrate', '--to', '002_gamma', '--json']);
    expect(partial.exitCode).toBe(0);
    expect(parseReport(partial.stdout).applied).toEqual(['002_gamma']);
    expect(await query(project.db, "SELECT COUNT(*) AS n FROM items WHERE name = 'delta'")).toEqual([{ n: 0 }]);
  });
});
