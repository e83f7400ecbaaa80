import { beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseReport, waitForFile, type TempProject } from '../helpers/project.ts';
import { addItem, changeThenThrow, createItems, partialThenThrow, waitUntilReleased } from '../helpers/migrations.ts';
import {
  mysqlDatabase,
  postgresDatabase,
  sampleLocks,
  sqliteCopy,
  sqliteDatabase,
  type LockSeen,
  type TestDatabase,
} from '../helpers/databases.ts';
import { useMigratedDatabase, type DatabaseMaker } from '../helpers/use-database.ts';

/**
 * The same rollout and backup scenarios through the real CLI, once per engine. A row says only
 * what differs between engines: how a test gets a fresh database and a copy of one (and their
 * DATABASE_URL; running SQL, dumping and listing tables are the TestDatabase's), what a
 * backup file is called, who a refused run names as the lock's holder, what `archive` does, and
 * whether the database has a lock table a dry run can be watched through.
 */
type Bug = 'dry-run-bindings';

interface EngineRow extends DatabaseMaker {
  readonly name: 'sqlite' | 'postgres' | 'mysql';
  /**
   * How a migration that fails inside its transaction is undone: `rollback` where DDL is
   * transactional; `restore` on MySQL/MariaDB, where DDL commits implicitly and every run goes
   * migration by migration, a failure restoring the backup.
   */
  readonly undo: 'rollback' | 'restore';
  /** A backup's extension (before `.gz`). */
  readonly extension: string;
  /** What the refusal of a second run must name: the first run's lock holder. */
  holder(db: TestDatabase, firstRunPid: number): Promise<readonly string[]>;
  /** `archive`: null where it runs Litestream (test/cli/archive.test.ts); else what its one-line refusal says. */
  readonly archiveRefusal: RegExp | null;
  /**
   * Bugs in src/ that make a scenario fail on this engine (the test is kept as `it.fails`):
   * `dry-run-bindings`: see the dry-run test below.
   */
  readonly bugs: readonly Bug[];
  /** Runs `work` while sampling the locks held on the database; null where there is no lock table to sample. */
  readonly sampleLocks: (<T>(db: TestDatabase, work: () => Promise<T>) => Promise<{ result: T; samples: number; seen: LockSeen[] }>) | null;
}

const ENGINES: readonly EngineRow[] = [
  {
    name: 'sqlite',
    fresh: async (project) => sqliteDatabase(project.db),
    copy: (template, project) => sqliteCopy(template, project.db),
    extension: '.db',
    // The lock file names the process that holds it.
    holder: async (_db, firstRunPid) => [`pid ${firstRunPid}`],
    archiveRefusal: null,
    bugs: [],
    sampleLocks: null,
    undo: 'rollback',
  },
  {
    name: 'postgres',
    fresh: () => postgresDatabase(),
    copy: (template) => postgresDatabase('mg_cli', { template }),
    extension: '.dump',
    // An advisory lock: held by a server session, named by its backend pid and application_name.
    async holder(db) {
      const sessions = await db.query<{ pid: number; application: string }>(
        `SELECT l.pid, a.application_name AS application FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(sessions).toHaveLength(1);
      return [`pid ${sessions[0]!.pid}`, sessions[0]!.application];
    },
    archiveRefusal: /pgBackRest or WAL-G/,
    bugs: [],
    sampleLocks,
    undo: 'rollback',
  },
  {
    name: 'mysql',
    fresh: () => mysqlDatabase(),
    copy: (template) => mysqlDatabase('mg_mysql_cli', { template }),
    extension: '.sql',
    // A named lock (GET_LOCK): held by a server connection, and the holder file names the run's pid.
    async holder(db, firstRunPid) {
      const [lock] = await db.query<{ id: string | null }>(`SELECT IS_USED_LOCK('migrate-guard:${db.name}') AS id`);
      expect(lock?.id).not.toBeNull();
      return [`connection ${lock!.id}`, `pid ${firstRunPid}`];
    },
    archiveRefusal: /mariadb-binlog/,
    bugs: [],
    sampleLocks: null,
    undo: 'restore',
  },
];

const itemNames = async (db: TestDatabase) =>
  (await db.query<{ name: string }>('SELECT name FROM items ORDER BY id')).map((row) => row.name);

describe.each(ENGINES)('$name, through the CLI', (row) => {
  let project: TempProject;
  let db: TestDatabase;
  /** The CLI on this test's database; `--json` reports are parsed by `reportOf`. */
  const cli = (args: readonly string[], env: Record<string, string | undefined> = {}) =>
    project.run(args, { env: { DATABASE_URL: db.url, ...env } });
  /** Runs the CLI with `--json`, checks the exit code (the output is the failure message) and returns the report. */
  const reportOf = async (
    args: readonly string[],
    exitCode: number,
    env: Record<string, string | undefined> = {},
  ): Promise<Record<string, any>> => {
    const result = await cli([...args, '--json'], env);
    expect(result.exitCode, result.all).toBe(exitCode);
    return { ...parseReport(result.stdout), stderr: result.stderr };
  };
  const backup = async (...flags: string[]) =>
    (await reportOf(['backup', ...flags], 0)).backup as { path: string; kind: string; compressed: boolean; verified: boolean };
  const backupName = (kind: string, compressed = false) =>
    new RegExp(`^${kind}/${db.name}_${kind}_\\d{8}_\\d{6}(_\\d+)?${row.extension.replace('.', '\\.')}${compressed ? '\\.gz' : ''}$`);

  /** Unless the engine has `bug`: then the test is expected to fail until src/ is fixed. */
  const itUnless = (bug: Bug) => (row.bugs.includes(bug) ? it.fails : it);

  // `001_items` applied by `migrate` once; each test works on a copy of it.
  const migrated = useMigratedDatabase(row, { '001_items.ts': createItems });
  beforeEach(() => {
    ({ project, db } = migrated());
  });

  describe('migrate', () => {
    it(`undoes a failing migration (exit 2, undo ${row.undo}): schema and rows exactly as before`, async () => {
      const before = await db.dump();
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      await project.writeMigration('003_broken.ts', changeThenThrow);
      const report = await reportOf(['migrate'], 2);
      expect(report).toMatchObject({ ok: false, restored: true, undo: row.undo, applied: [], restoreError: null });
      expect(report.failed).toMatchObject({ migration: '003_broken', phase: 'migrate', message: expect.stringContaining('boom') });
      expect(report.migrations).toEqual([
        expect.objectContaining({ name: '002_gamma', status: 'rolled-back' }),
        expect.objectContaining({ name: '003_broken', status: 'failed' }),
      ]);
      expect(await db.dump()).toBe(before);
      expect(await db.tables()).not.toContain('half_done');
    });

    it('undoes the run when a custom check from migrate-guard.config.mjs fails (exit 2)', async () => {
      await writeFile(
        path.join(project.dir, 'migrate-guard.config.mjs'),
        `export default { checks: { custom: [
          { name: 'no-gamma', run: async (knex) => (await knex('items').where({ name: 'gamma' }).first()) ? 'gamma is not allowed' : undefined },
        ] } };\n`,
      );
      const before = await db.dump();
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      const report = await reportOf(['migrate'], 2);
      expect(report).toMatchObject({ restored: true, undo: row.undo, failed: { migration: null, phase: 'check' } });
      expect(report.checks).toContainEqual({ name: 'custom:no-gamma', ok: false, detail: 'gamma is not allowed' });
      expect(await db.dump()).toBe(before);
    });

    it('restores the backup when a transaction: false migration fails after changing things (exit 2, undo restore)', async () => {
      const before = await db.dump();
      await project.writeMigration('002_broken.ts', partialThenThrow);
      const report = await reportOf(['migrate'], 2);
      expect(report).toMatchObject({
        restored: true,
        undo: 'restore',
        restoreError: null,
        failed: { migration: '002_broken', phase: 'migrate' },
      });
      expect(report.stderr).toContain('restore verified');
      expect(report.backup).toMatch(new RegExp(`${row.extension.replace('.', '\\.')}$`));
      expect(await db.dump()).toBe(before);
      expect(await db.tables()).not.toContain('half_done');
    });

    it('refuses a second run while the first waits in a migration (exit 1), naming the holder', async () => {
      const marker = path.join(project.dir, 'running');
      const release = path.join(project.dir, 'release');
      await project.writeMigration('002_wait.ts', waitUntilReleased(marker, release));
      const first = cli(['migrate']);
      try {
        await Promise.race([
          waitForFile(marker),
          first.then((result) => {
            throw new Error(`the first run ended before its migration waited: ${result.all}`);
          }),
        ]);
        const second = await reportOf(['migrate'], 1);
        expect(second.error.code).toBe('LOCK_HELD');
        for (const name of await row.holder(db, first.pid!)) expect(second.error.message).toContain(name);
      } finally {
        await writeFile(release, '');
      }
      const done = await first;
      expect(done.exitCode, done.all).toBe(0);
      expect(await itemNames(db)).toEqual(['alpha', 'beta', 'from-waiting-migration']);
    });

    it('rehearses pending migrations with --dry-run and leaves the live database unchanged', async () => {
      await project.writeMigration(
        '002_tags.ts',
        `export async function up({ context }) {
          await context.schema.createTable('tags', (t) => { t.increments('id'); t.string('label'); });
          await context.raw("INSERT INTO tags (label) VALUES ('first')");
          await context.raw("UPDATE items SET name = 'ALPHA' WHERE name = 'alpha'");
        }\n`,
      );
      await project.writeMigration('003_drop_tags.sql', 'DROP TABLE tags;');
      const before = await db.dump();
      const backupsBefore = await project.backupFiles();
      const dryRun = () => reportOf(['migrate', '--dry-run'], 0);
      let report: Awaited<ReturnType<typeof dryRun>>;
      if (row.sampleLocks) {
        const sampled = await row.sampleLocks(db, dryRun);
        report = sampled.result;
        // For the record: what a dry run holds on the live database while it runs.
        const distinct = (values: readonly (string | null)[]) => [...new Set(values)].sort().join(', ') || 'none';
        const relations = sampled.seen.map((lock) => lock.relation);
        const catalog = relations.filter((relation) => relation?.startsWith('pg_'));
        console.log(
          `${row.name} dry run: ${sampled.samples} samples of pg_locks on the live database; locks seen: ${sampled.seen.length} ` +
            `(types ${distinct(sampled.seen.map((lock) => lock.locktype))}; modes ${distinct(sampled.seen.map((lock) => lock.mode))}; ` +
            `held by ${distinct(sampled.seen.map((lock) => lock.application))}; on ${distinct(relations.filter((relation) => !catalog.includes(relation)))} ` +
            `and ${new Set(catalog).size} catalog relations)`,
        );
        expect(sampled.samples).toBeGreaterThan(5);
        expect(sampled.seen.filter((lock) => lock.mode !== 'AccessShareLock')).toEqual([]);
        expect(sampled.seen.filter((lock) => lock.locktype === 'advisory')).toEqual([]);
      } else {
        report = await dryRun();
      }
      expect(report.plan.map((entry: { name: string; ok: boolean }) => [entry.name, entry.ok])).toEqual([
        ['002_tags', true],
        ['003_drop_tags', true],
      ]);
      expect(report.plan[0].sql.join('\n')).toMatch(/create table [`"]tags[`"]/i);
      expect(report.plan[1].warnings.join('\n')).toContain('tags');
      expect(await db.dump()).toBe(before);
      expect(await project.backupFiles()).toEqual(backupsBefore);
    });

    // Regression (this test found it; fixed in src/commands/dry-run.ts `inlineBindings`): on
    // PostgreSQL knex's query event carries `$1` placeholders, and inlining them as `?` threw
    // "Expected 1 bindings, saw 0" inside the migration: every migration sending a value "would fail".
    itUnless('dry-run-bindings')('rehearses a migration that sends bound values, showing them inlined', async () => {
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      const before = await db.dump();
      const report = await reportOf(['migrate', '--dry-run'], 0);
      expect(report.plan).toEqual([expect.objectContaining({ name: '002_gamma', ok: true })]);
      expect(report.plan[0].sql.join('\n')).toMatch(/insert into [`"]items[`"] .*'gamma'/i);
      expect(await db.dump()).toBe(before);
    });
  });

  describe('backups', () => {
    it('refuses a corrupt backup: verify exits 4, restore exits 1 with the database untouched', async () => {
      const stored = await backup();
      const bytes = await readFile(stored.path);
      bytes[bytes.length - 10]! ^= 0xff;
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      await writeFile(stored.path, bytes);
      const verify = await reportOf(['verify', stored.path], 4);
      expect(verify.checks.find((check: { name: string }) => check.name === 'checksum')).toMatchObject({ ok: false });
      await db.exec("DELETE FROM items WHERE name = 'alpha'");
      const before = await db.dump();
      const restore = await reportOf(['restore', stored.path], 1);
      expect(restore.error.code).toBe('BACKUP_INVALID');
      expect(await db.dump()).toBe(before);
    });

    it('backup plain and --compress, backups --json, verify both', async () => {
      const plain = await backup();
      expect(path.relative(project.backups, plain.path)).toMatch(backupName('manual'));
      expect(plain).toMatchObject({ kind: 'manual', verified: true, compressed: false });
      const compressed = await backup('--compress');
      expect(path.relative(project.backups, compressed.path)).toMatch(backupName('manual', true));
      expect(compressed).toMatchObject({ kind: 'manual', verified: true, compressed: true });

      const { backups } = await reportOf(['backups'], 0);
      expect(backups.map((entry: { path: string }) => path.relative(project.backups, entry.path))).toEqual([
        expect.stringMatching(backupName('manual', true)),
        expect.stringMatching(backupName('manual')),
      ]);
      for (const entry of backups) {
        expect(entry).toMatchObject({ verified: true, scrubError: null });
        expect(Object.keys(entry)).toEqual(
          expect.arrayContaining(['path', 'kind', 'createdAt', 'bytes', 'sha256', 'verified', 'scrubbedAt']),
        );
      }
      for (const file of [plain.path, compressed.path]) {
        const verify = await reportOf(['verify', file], 0);
        expect(verify.checks.every((check: { ok: boolean }) => check.ok)).toBe(true);
      }
    });

    it('restore --latest brings deleted rows back and keeps a pre-restore copy', async () => {
      await backup('--compress');
      const expected = await db.dump();
      await db.exec("DELETE FROM items WHERE name = 'alpha'");
      const report = await reportOf(['restore', '--latest'], 0);
      expect(report.backup).toMatch(/\.gz$/);
      expect(report.proof.tables).toMatchObject({ items: 2 });
      expect(await db.dump()).toBe(expected);
      // The pre-restore copy holds the database as it was: without alpha.
      expect(existsSync(report.preRestoreCopy)).toBe(true);
      expect(await db.querySnapshot(report.preRestoreCopy, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'beta' }]);
    });

    it('restore while the application writes: every row it saw committed is in the database or the pre-restore copy (exit 0)', async () => {
      const stored = await backup();
      // The application: one autocommitted INSERT after another, each on a connection of its own;
      // a row counts once its INSERT returned (one refused while the restore holds the lock does not).
      const committed: string[] = [];
      let writing = true;
      const writer = (async () => {
        for (let n = 0; writing; n += 1) {
          const name = `w${n}`;
          if (
            await db.exec(`INSERT INTO items (name) VALUES ('${name}')`).then(
              () => true,
              () => false,
            )
          )
            committed.push(name);
        }
      })();
      try {
        while (committed.length < 5) await new Promise((resolve) => setTimeout(resolve, 10));
        const report = await reportOf(['restore', stored.path, '--yes'], 0);
        await new Promise((resolve) => setTimeout(resolve, 200));
        writing = false;
        await writer;
        const kept = new Set([
          ...(await itemNames(db)),
          ...(await db.querySnapshot<{ name: string }>(report.preRestoreCopy, 'SELECT name FROM items')).map((item) => item.name),
        ]);
        expect(committed.length).toBeGreaterThan(10);
        expect(committed.filter((name) => !kept.has(name))).toEqual([]);
      } finally {
        writing = false;
        await writer;
      }
    });

    it('restore-table exports reviewable SQL that reproduces the table, and --apply puts the rows back', async () => {
      const stored = await backup();
      await db.exec("UPDATE items SET name = 'changed'; INSERT INTO items (name) VALUES ('gamma');");
      const out = path.join(project.dir, 'items.sql');
      expect(await reportOf(['restore-table', stored.path, 'items', '--out', out], 0)).toMatchObject({ mode: 'export', rows: 2, out });
      const sql = await readFile(out, 'utf8');
      expect(sql).toMatch(/^-- migrate-guard restore-table/);
      await db.exec(`DELETE FROM items; ${sql}`);
      expect(await itemNames(db)).toEqual(['alpha', 'beta']);

      await db.exec("UPDATE items SET name = 'changed'; INSERT INTO items (name) VALUES ('gamma');");
      const applied = await reportOf(['restore-table', stored.path, 'items', '--apply'], 0);
      expect(applied).toMatchObject({ mode: 'apply', rows: 2, violations: [] });
      expect(path.relative(project.backups, applied.preRestoreBackup)).toMatch(backupName('manual'));
      expect(await itemNames(db)).toEqual(['alpha', 'beta']);
    });

    it('prune, health and drill', async () => {
      const first = await backup('--kind', 'daily');
      const second = await backup('--kind', 'daily');
      expect(path.relative(project.backups, second.path)).toMatch(backupName('daily', true));
      const kept = await project.backupFiles();
      // Both fall on one day: only the newest of that day stays.
      expect((await reportOf(['prune', '--dry-run'], 0)).removed).toEqual([first.path]);
      expect(await project.backupFiles()).toEqual(kept);
      expect((await reportOf(['prune'], 0)).removed).toEqual([first.path]);
      expect(existsSync(first.path)).toBe(false);
      expect(existsSync(second.path)).toBe(true);

      const health = await reportOf(['health'], 0);
      expect(health.alerts).toEqual([]);
      expect(health.kinds.map((kind: { kind: string }) => kind.kind).sort()).toEqual(['daily']);

      const before = await db.dump();
      const drill = await reportOf(['drill'], 0);
      expect(drill).toMatchObject({ ok: true, backup: second.path, proof: { tables: { items: 2 } } });
      expect(await db.dump()).toBe(before);
    });

    it.runIf(row.archiveRefusal !== null)('archive refuses in one line (exit 1), naming what does point-in-time recovery', async () => {
      const result = await cli(['archive']);
      expect(result.exitCode).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(row.archiveRefusal!);
    });
  });
});
