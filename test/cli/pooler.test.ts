import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { addItem, changeThenThrow, createItems, partialThenThrow } from '../helpers/migrations.ts';
import { PGBOUNCER_BINARY, startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.ts';
import { parseReport, type TempProject } from '../helpers/project.ts';
import { useMigratedDatabase } from '../helpers/use-database.ts';

/**
 * PostgreSQL behind a real PgBouncer (started by this file on free ports, stopped after): in
 * transaction mode a run is refused before anything unless DIRECT_URL (--direct-url, directUrl)
 * reaches the server itself; in session mode it just works.
 */
describe.skipIf(PGBOUNCER_BINARY === null)('PostgreSQL behind PgBouncer, through the CLI', () => {
  let transactionPool: PgBouncer;
  let sessionPool: PgBouncer;
  beforeAll(async () => {
    transactionPool = await startPgBouncer('transaction');
    sessionPool = await startPgBouncer('session');
  });
  afterAll(async () => {
    await transactionPool?.stop();
    await sessionPool?.stop();
  });

  let project: TempProject;
  let db: TestDatabase;
  const migrated = useMigratedDatabase(
    { fresh: () => postgresDatabase('mg_pooler'), copy: (template) => postgresDatabase('mg_pooler', { template }) },
    { '001_items.ts': createItems },
  );
  beforeEach(() => {
    ({ project, db } = migrated());
  });

  /** The server's URL without a database: DIRECT_URL may leave it out (DATABASE_URL names it). */
  const serverOnly = () => db.url.replace(/\/[^/?]*$/, '');
  const itemNames = async () => (await db.query<{ name: string }>('SELECT name FROM items ORDER BY id')).map((row) => row.name);
  /** Runs the CLI with `--json` and `env`, checks the exit code (the output is the failure message), returns the report. */
  const reportOf = async (
    args: readonly string[],
    exitCode: number,
    env: Record<string, string | undefined>,
  ): Promise<Record<string, any>> => {
    const result = await project.run([...args, '--json'], { env });
    expect(result.exitCode, result.all).toBe(exitCode);
    return { ...parseReport(result.stdout), stderr: result.stderr };
  };

  describe('transaction mode, DATABASE_URL through the pooler and no DIRECT_URL', () => {
    const env = () => ({ DATABASE_URL: transactionPool.through(db.url), DIRECT_URL: undefined });

    it('migrate is refused before any backup (exit 1, TRANSACTION_POOLER), the database untouched, the fix named', async () => {
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      const before = await db.dump();
      const report = await reportOf(['migrate'], 1, env());
      expect(report.error.code).toBe('TRANSACTION_POOLER');
      expect(report.error.message).toMatch(
        /^DATABASE_URL postgres:\/\/.*goes through a connection pooler in transaction mode \(a pooler such as PgBouncer at 127\.0\.0\.1:\d+; the server behind it listens on port 5432\)/,
      );
      expect(report.error.message).toMatch(/set DIRECT_URL \(or --direct-url, or directUrl in the config\)/);
      expect(report.error.message).toMatch(/session-mode pool; nothing was changed$/);
      expect(report).toMatchObject({ applied: [], backup: null, restored: false, failed: { phase: 'refused' } });
      // One line for the human, and no "backup failed verification".
      const human = await project.run(['migrate'], { env: env() });
      expect(human.exitCode).toBe(1);
      expect(human.stderr.trim().split('\n')).toEqual([`migrate-guard: ${report.error.message}`]);
      expect(await db.dump()).toBe(before);
      expect(await project.backupFiles()).toEqual([]);
    });

    it('backup is refused the same way, with no backup file', async () => {
      const report = await reportOf(['backup'], 1, env());
      expect(report.error.code).toBe('TRANSACTION_POOLER');
      expect(await project.backupFiles()).toEqual([]);
    });
  });

  describe('transaction mode, with DIRECT_URL to the server', () => {
    const env = () => ({ DATABASE_URL: transactionPool.through(db.url), DIRECT_URL: serverOnly() });

    it('rolls out, names the backup after the database, and sends nothing through the pooler', async () => {
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      const before = await transactionPool.transactions(db.name);
      const report = await reportOf(['migrate'], 0, env());
      expect(report.applied).toEqual(['002_gamma']);
      expect(path.basename(report.backup)).toMatch(new RegExp(`^${db.name}_pre-rollout_\\d{8}_\\d{6}\\.dump$`));
      // The database is named by DATABASE_URL, whichever URL the connections used.
      expect(JSON.parse(await readFile(`${report.backup}.manifest.json`, 'utf8')).source).toBe(transactionPool.through(db.url));
      expect(await itemNames()).toEqual(['alpha', 'beta', 'gamma']);
      expect(await transactionPool.transactions(db.name)).toBe(before);
    });

    it('rolls a failing migration back (exit 2), and restores the backup after a transaction: false one (exit 2)', async () => {
      const before = await db.dump();
      await project.writeMigration('002_broken.ts', changeThenThrow);
      expect(await reportOf(['migrate'], 2, env())).toMatchObject({
        restored: true,
        undo: 'rollback',
        failed: { migration: '002_broken' },
      });
      expect(await db.dump()).toBe(before);

      await project.writeMigration('002_broken.ts', partialThenThrow);
      const restored = await reportOf(['migrate'], 2, env());
      expect(restored).toMatchObject({ restored: true, undo: 'restore', restoreError: null });
      expect(await db.dump()).toBe(before);
      expect(await db.tables()).not.toContain('half_done');
    });

    it('backup, verify, restore and drill work', async () => {
      const stored = (await reportOf(['backup'], 0, env())).backup;
      expect(path.basename(stored.path)).toMatch(new RegExp(`^${db.name}_manual_`));
      expect((await reportOf(['verify', stored.path], 0, env())).checks.every((check: { ok: boolean }) => check.ok)).toBe(true);
      const expected = await db.dump();
      await db.exec("DELETE FROM items WHERE name = 'alpha'");
      const restore = await reportOf(['restore', stored.path, '--yes'], 0, env());
      expect(await db.dump()).toBe(expected);
      expect(existsSync(restore.preRestoreCopy)).toBe(true);
      expect(await reportOf(['drill'], 0, env())).toMatchObject({ ok: true, backup: stored.path, proof: { tables: { items: 2 } } });
      expect(await db.dump()).toBe(expected);
    });

    it('takes --direct-url before DIRECT_URL, and directUrl from the config after both', async () => {
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      // A DIRECT_URL naming another database would be refused: the flag wins.
      const wrong = { ...env(), DIRECT_URL: `${serverOnly()}/another_database` };
      expect((await reportOf(['migrate'], 1, wrong)).error).toMatchObject({
        code: 'USAGE',
        message: expect.stringMatching(/names database another_database/),
      });
      expect((await reportOf(['migrate', '--direct-url', serverOnly()], 0, wrong)).applied).toEqual(['002_gamma']);

      await project.writeMigration('003_delta.ts', addItem('delta'));
      await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), `export default { directUrl: ${JSON.stringify(db.url)} };\n`);
      expect((await reportOf(['migrate'], 0, { ...env(), DIRECT_URL: undefined })).applied).toEqual(['003_delta']);
      expect(await itemNames()).toEqual(['alpha', 'beta', 'gamma', 'delta']);
    });

    it('refuses a DIRECT_URL for another database in one line, without its password, nothing done', async () => {
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      const before = await db.dump();
      const direct = serverOnly().replace('postgres://postgres@', 'postgres://postgres:s3cret-pw@');
      const result = await project.run(['migrate'], { env: { ...env(), DIRECT_URL: `${direct}/another_database` } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/DIRECT_URL postgres:\/\/postgres:\*\*\*@.*names database another_database/);
      expect(result.all).not.toContain('s3cret-pw');
      expect(await db.dump()).toBe(before);
      expect(await project.backupFiles()).toEqual([]);
    });
  });

  describe('session mode', () => {
    const env = () => ({ DATABASE_URL: sessionPool.through(db.url), DIRECT_URL: undefined });

    it('rolls out, rolls a failing migration back, and backs up, all through the pool', async () => {
      const before = await sessionPool.transactions(db.name);
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      expect((await reportOf(['migrate'], 0, env())).applied).toEqual(['002_gamma']);
      expect(await itemNames()).toEqual(['alpha', 'beta', 'gamma']);
      // It did go through PgBouncer.
      expect(await sessionPool.transactions(db.name)).toBeGreaterThan(before);

      const migrated = await db.dump();
      await project.writeMigration('003_broken.ts', changeThenThrow);
      expect(await reportOf(['migrate'], 2, env())).toMatchObject({ restored: true, undo: 'rollback' });
      expect(await db.dump()).toBe(migrated);
      expect((await reportOf(['backup'], 0, env())).backup.verified).toBe(true);
    });
  });

  it('refuses DIRECT_URL beside a SQLite database (exit 1), the file untouched', async () => {
    const result = await project.run(['status'], { env: { DATABASE_URL: project.db, DIRECT_URL: db.url } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/DIRECT_URL is set, but the database is the sqlite database .*app\.db/);
    expect(existsSync(project.db)).toBe(false);
  });
});
