import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TempProject, parseReport } from '../helpers/project.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startPgApp } from '../helpers/pg-app.ts';

/**
 * PostgreSQL's lock queue: an ALTER TABLE that waits behind a long transaction queues every later
 * query on the table. migrate-guard runs each migration transaction with a short lock_timeout and
 * tries again, holding nothing while it waits; the application beside it (a real process on its
 * own connections) measures what it felt.
 */

const ACCOUNTS = `
export async function up({ context }) {
  await context.schema.createTable('accounts', (t) => { t.increments('id'); t.text('name'); });
  await context('accounts').insert([{ name: 'alice' }, { name: 'bob' }]);
}
export async function down({ context }) { await context.schema.dropTable('accounts'); }
`;

/** A trivial migration: a nullable column (ACCESS EXCLUSIVE on accounts, for a moment). */
const ADD_NOTE = `
export async function up({ context }) {
  await context.schema.alterTable('accounts', (t) => { t.text('note'); });
}
export async function down({ context }) { await context.schema.alterTable('accounts', (t) => { t.dropColumn('note'); }); }
`;

/** Resolves once a migrate-guard session of `db` waits for a lock. */
async function waitingOnLock(db: TestDatabase): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const [row] = await db.query<{ waiting: number }>(
      "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'migrate-guard' AND wait_event_type = 'Lock'",
    );
    if (row!.waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('no migrate-guard session waited for a lock within 30 s');
}

describe('PostgreSQL: a short lock_timeout, retried', () => {
  let project: TempProject;
  let db: TestDatabase;
  const cli = (args: readonly string[], env: Record<string, string | undefined> = {}) =>
    project.run(args, { env: { DATABASE_URL: db.url, MIGRATE_GUARD_CONFIG: undefined, ...env } });
  /** Resolves once the run's output says `text` (by default: it hit the lock timeout and will try again). */
  const retried = (child: ReturnType<typeof cli>, text = 'lock not granted') =>
    new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes(text)) resolve();
      });
      void child.then((result) => reject(new Error(`the run ended before it said ${text}: ${result.all}`)));
    });

  beforeEach(async () => {
    project = await TempProject.create();
    db = await postgresDatabase('mg_locks');
    await project.writeMigration('001_accounts.ts', ACCOUNTS);
    const first = await cli(['migrate']);
    expect(first.exitCode, first.all).toBe(0);
  });
  afterEach(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  it('held up 8 s by a report: migrate exits 0 once it ends, and no insert of the application waits over 1 s', async () => {
    await project.writeMigration('002_note.ts', ADD_NOTE);
    const app = startPgApp(db.url, { table: 'accounts', reportMs: 120_000, insert: true });
    await app.ready;
    const child = cli(['migrate', '--json']);
    // The report ends 8 s after the migration first waits for it (however long the backup took).
    await waitingOnLock(db);
    await new Promise((resolve) => setTimeout(resolve, 8000));
    app.release();
    const run = await child;
    const felt = await app.stop();
    expect(run.exitCode, run.all).toBe(0);
    const report = parseReport(run.stdout);
    expect(report.applied).toEqual(['002_note']);
    expect(report.timings.lockWaitMs).toBeGreaterThan(0);
    expect(run.stderr).toContain("application_name 'report-app'");
    // What the application measured, not what migrate-guard says.
    expect(felt.failures, felt.errors.join('; ')).toBe(0);
    expect(felt.inserts).toBeGreaterThan(50);
    expect(felt.worstMs).toBeLessThan(1000);
    const columns = await db.query<{ name: string }>(
      "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY ordinal_position",
    );
    expect(columns.map((column) => column.name)).toEqual(['id', 'name', 'note']);
  });

  it('refuses once the lock budget is spent (exit 1): nothing changed, the blocking session named', async () => {
    await project.writeMigration('002_note.ts', ADD_NOTE);
    const app = startPgApp(db.url, { table: 'accounts', reportMs: 60_000, insert: false });
    const { reportPid } = await app.ready;
    const before = await db.dump();
    const run = await cli(['migrate', '--json'], { MIGRATE_GUARD_LOCK_TIMEOUT: '300ms', MIGRATE_GUARD_LOCK_BUDGET: '2s' });
    await app.stop();
    expect(run.exitCode, run.all).toBe(1);
    const report = parseReport(run.stdout);
    expect(report.error.code).toBe('LOCK_BUDGET_EXHAUSTED');
    expect(report.error.message).toContain(`pid ${reportPid}`);
    expect(report.error.message).toContain("application_name 'report-app'");
    expect(report.error.message).toContain('SELECT count(*) FROM accounts');
    expect(report.error.message).toMatch(/transaction open \d+\.\ds/);
    expect(report.error.message).toMatch(/; rolled back: .*; nothing was changed$/);
    expect(await db.dump()).toBe(before);
    // No half-made copy is left behind: the backup folder holds only backups with their manifests.
    const files = await project.backupFiles();
    expect(files.filter((file) => file.includes('.tmp-'))).toEqual([]);
    for (const file of files.filter((name) => !name.endsWith('.manifest.json'))) expect(files).toContain(`${file}.manifest.json`);
    // The run let go of everything: the next one goes through.
    const again = await cli(['migrate', '--json']);
    expect(again.exitCode, again.all).toBe(0);
  });

  it('per-migration mode tries the one migration again, its earlier migrations kept', async () => {
    await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), "export default { transactions: 'per-migration' };\n");
    await project.writeMigration(
      '002_first.ts',
      "export async function up({ context }) { await context('accounts').insert({ name: 'from 002' }); }\n",
    );
    await project.writeMigration('003_note.ts', ADD_NOTE);
    const app = startPgApp(db.url, { table: 'accounts', reportMs: 60_000, insert: false });
    await app.ready;
    // The report holds `accounts` until the run has hit the lock timeout once.
    const child = cli(['migrate', '--json', '--config', 'migrate-guard.config.mjs']);
    await retried(child);
    app.release();
    const run = await child;
    await app.stop();
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stderr).toContain("rolled back the migration's transaction");
    const report = parseReport(run.stdout);
    expect(report.applied).toEqual(['002_first', '003_note']);
    expect(report.timings.lockWaitMs).toBeGreaterThan(0);
    expect(await db.query('SELECT name FROM accounts ORDER BY id')).toEqual([{ name: 'alice' }, { name: 'bob' }, { name: 'from 002' }]);
  });

  it('per-migration mode, budget spent after an earlier migration committed: a failed run, restored (exit 2)', async () => {
    await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), "export default { transactions: 'per-migration' };\n");
    await project.writeMigration(
      '002_first.ts',
      "export async function up({ context }) { await context('accounts').insert({ name: 'from 002' }); }\n",
    );
    await project.writeMigration('003_note.ts', ADD_NOTE);
    const app = startPgApp(db.url, { table: 'accounts', reportMs: 60_000, insert: false });
    await app.ready;
    const before = await db.dump();
    const child = cli(['migrate', '--json', '--config', 'migrate-guard.config.mjs'], {
      MIGRATE_GUARD_LOCK_TIMEOUT: '200ms',
      MIGRATE_GUARD_LOCK_BUDGET: '1s',
    });
    // The restore drops and recreates the tables: it waits for the report like anyone, so it ends here.
    await retried(child, 'restoring the pre-rollout backup');
    app.release();
    const run = await child;
    await app.stop();
    expect(run.exitCode, run.all).toBe(2);
    const report = parseReport(run.stdout);
    expect(report).toMatchObject({ undo: 'restore', restored: true, failed: { migration: '003_note', code: 'LOCK_BUDGET_EXHAUSTED' } });
    expect(report.failed.message).toContain("application_name 'report-app'");
    expect(await db.dump()).toBe(before);
  });

  it("a migration that sets its own lock_timeout keeps it; ours is SET LOCAL and never outlives the run's transaction", async () => {
    await project.writeMigration(
      '002_settings.ts',
      `export async function up({ context }) {
        await context.schema.createTable('seen', (t) => { t.text('lock_timeout'); });
        await context.raw("INSERT INTO seen SELECT current_setting('lock_timeout')");
      }\n`,
    );
    await project.writeMigration(
      '003_patient.ts',
      `export async function up({ context }) {
        await context.raw("SET LOCAL lock_timeout = '30s'");
        await context.schema.alterTable('accounts', (t) => { t.text('note'); });
      }\n`,
    );
    const app = startPgApp(db.url, { table: 'accounts', reportMs: 60_000, insert: false });
    await app.ready;
    const child = cli(['migrate', '--json'], { MIGRATE_GUARD_LOCK_TIMEOUT: '200ms', MIGRATE_GUARD_LOCK_BUDGET: '1s' });
    // The patient migration waits on its own 30 s, past our timeout and budget: released then, it goes through.
    await waitingOnLock(db);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    app.release();
    const run = await child;
    await app.stop();
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stderr).not.toContain('lock not granted');
    expect(await db.query('SELECT lock_timeout FROM seen')).toEqual([{ lock_timeout: '200ms' }]);
    // A new session of the same role and database has the server's default, not ours.
    expect(await db.query("SELECT current_setting('lock_timeout') AS lock_timeout")).toEqual([{ lock_timeout: '0' }]);
  });

  it('preflight names a transaction open longer than locks.longTransaction', async () => {
    await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), "export default { locks: { longTransaction: '1s' } };\n");
    await project.writeMigration(
      '002_other.ts',
      "export async function up({ context }) { await context.schema.createTable('other', (t) => { t.increments('id'); }); }\n",
    );
    const app = startPgApp(db.url, { table: 'accounts', reportMs: 60_000, insert: false });
    const { reportPid } = await app.ready;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const run = await cli(['migrate', '--json', '--config', 'migrate-guard.config.mjs']);
    await app.stop();
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stderr).toMatch(
      new RegExp(
        `1 transaction\\(s\\) open longer than 1\\.0s .*pid ${reportPid} \\(application_name 'report-app'\\), transaction open \\d+\\.\\ds`,
      ),
    );
  });
});
