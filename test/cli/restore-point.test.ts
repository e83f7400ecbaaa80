import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { archivedPast } from '../../src/engines/postgres/archiver.ts';
import { withPg } from '../../src/engines/postgres/connection.ts';
import { ARCHIVED_CLUSTER_MISSING, createArchivedCluster, type ArchivedCluster } from '../helpers/archived-cluster.ts';
import { PG_SERVER, uniqueDatabaseName } from '../helpers/databases.ts';
import { parseReport, TempProject } from '../helpers/project.ts';

/**
 * backups.method 'restore-point' (issue 21) on a cluster of the file's own whose WAL pgBackRest
 * archives, as a team's database host has one (made once: it takes seconds). Each test has its
 * own database in it and its own project folder; the real CLI runs as a subprocess.
 */
const ADD_MEMO = `
exports.up = async (knex) => { await knex.schema.alterTable('items', (t) => { t.text('memo'); }); };
exports.down = async (knex) => { await knex.schema.alterTable('items', (t) => { t.dropColumn('memo'); }); };
`;

describe.skipIf(ARCHIVED_CLUSTER_MISSING !== null)('postgres: backups.method restore-point', () => {
  let cluster: ArchivedCluster;
  const projects: TempProject[] = [];

  beforeAll(async () => {
    cluster = await createArchivedCluster('mgrp_rp');
  }, 180_000);
  afterAll(async () => {
    await cluster?.drop();
  }, 60_000);
  afterEach(async () => {
    for (const project of projects.splice(0)) await project.cleanup();
  });

  /** A database with `items` (`rows` rows) on the cluster, a project with `migrations`, and the CLI on both. */
  async function setUp(rows: number, migrations: Readonly<Record<string, string>>) {
    const database = await cluster.createDatabase('mg_rp');
    const url = cluster.url(database);
    await withPg(url, (connection) =>
      connection.exec(
        `CREATE TABLE items (id SERIAL PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, ${rows}) g`,
      ),
    );
    const project = await TempProject.create();
    projects.push(project);
    for (const [file, source] of Object.entries(migrations)) await project.writeMigration(file, source);
    const env = { DATABASE_URL: url, MIGRATE_GUARD_BACKUP_METHOD: 'restore-point', ...cluster.env };
    const cli = (args: readonly string[], extra: Record<string, string | undefined> = {}) =>
      project.run([...args, '--json'], { env: { ...env, ...extra } });
    const columns = () =>
      withPg(url, async (connection) =>
        (
          await connection.all<{ name: string }>(
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
          )
        ).map((row) => row.name),
      );
    const count = () =>
      withPg(url, async (connection) => Number((await connection.all<{ n: string }>('SELECT COUNT(*) AS n FROM items'))[0]!.n));
    const tables = () =>
      withPg(url, async (connection) =>
        (await connection.all<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map(
          (row) => row.name,
        ),
      );
    return { database, url, project, cli, columns, count, tables };
  }

  it('a rollout records a named restore point whose WAL segment is archived; verify checks its entry, restore refuses it, a drill restores it without the column and with every row', async () => {
    const { database, url, project, cli, columns, count } = await setUp(50, { '001_memo.js': ADD_MEMO });
    await project.writeConfig(
      "export default { backups: { verifyCommand: 'pgbackrest verify && echo verified $MIGRATE_GUARD_RESTORE_POINT' } };\n",
    );
    const run = await cli(['migrate']);
    expect(run.exitCode, run.all).toBe(0);
    const report = parseReport(run.stdout);
    expect(report.applied).toEqual(['001_memo']);
    expect(await columns()).toEqual(['id', 'name', 'memo']);
    const file = report.backup as string;
    expect(file).toMatch(/_pre-rollout_\d{8}_\d{6}\.restore-point$/);
    expect(report.hooks.map((hook: { hook: string; ok: boolean }) => [hook.hook, hook.ok])).toEqual([['verifyCommand', true]]);

    // The manifest: the point, its LSN, timeline and segment, when it was archived, the facts before the migration.
    const manifest = JSON.parse(await readFile(`${file}.manifest.json`, 'utf8'));
    const stamp = /_(\d{8}_\d{6})\.restore-point$/.exec(file)![1];
    expect(manifest).toMatchObject({
      method: 'restore-point',
      kind: 'pre-rollout',
      verified: true,
      engine: 'postgres',
      tables: { items: 50 },
      appliedMigrations: [],
      restorePoint: {
        name: `migrate-guard-${database}-${stamp}`,
        timeline: 1,
        verifyCommand: 'pgbackrest verify && echo verified $MIGRATE_GUARD_RESTORE_POINT',
      },
    });
    const point = manifest.restorePoint;
    expect(point.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(point.segment).toMatch(/^00000001[0-9A-F]{16}$/);
    expect(Date.parse(point.archivedAt)).toBeGreaterThanOrEqual(Date.parse(manifest.createdAt));
    // The server agrees: the segment holding the point is archived, and it is where the LSN is.
    await withPg(url, async (connection) => {
      const [row] = await connection.all<{ wal: string; segment: string }>(
        'SELECT last_archived_wal AS wal, pg_walfile_name(?::pg_lsn) AS segment FROM pg_stat_archiver',
        [point.lsn],
      );
      expect(row!.segment).toBe(point.segment);
      expect(archivedPast(row!.wal, point.segment)).toBe(true);
    });
    // The entry on disk names the point; the manifest's checksum is the entry's.
    expect(JSON.parse(await readFile(file, 'utf8')).restorePoint).toMatchObject({ name: point.name, lsn: point.lsn });

    const listed = parseReport((await cli(['backups'])).stdout);
    expect(listed.backups.map((entry: { path: string; verified: boolean }) => [entry.path, entry.verified])).toEqual([[file, true]]);
    // The lifecycle commands take the entry as a backup like any other.
    const pruned = await cli(['prune']);
    expect(pruned.exitCode, pruned.all).toBe(0);
    expect(await project.backupFiles()).toContain(`pre-rollout/${file.split('/').pop()}`);
    const health = parseReport((await cli(['health'])).stdout);
    expect(health.kinds.find((kind: { kind: string }) => kind.kind === 'pre-rollout')?.path).toBe(file);
    expect(JSON.stringify(health.alerts ?? [])).not.toMatch(/size changed|manifest/);
    const scrubbed = await cli(['verify', '--all', '--deep']);
    expect(scrubbed.exitCode, scrubbed.all).toBe(0);
    const verified = await cli(['verify', file]);
    expect(verified.exitCode, verified.all).toBe(0);
    expect(parseReport(verified.stdout).checks.map((check: { name: string }) => check.name)).toEqual(['checksum', 'restore-point']);

    // Putting it back in place is the archive tool's, the server stopped: refused, nothing changed.
    const restore = await cli(['restore', file, '--yes']);
    expect(restore.exitCode, restore.all).toBe(1);
    expect(parseReport(restore.stdout).error.message).toContain(`--type=name --target=${point.name}`);
    expect(await columns()).toEqual(['id', 'name', 'memo']);

    // The application writes on after the rollout; the point still holds the 50 rows of before it.
    await withPg(url, (connection) => connection.exec("INSERT INTO items (name) SELECT 'later' FROM generate_series(1, 7)"));
    // The drill's smoke queries divide by zero if the restored copy has the migration's column, or
    // lacks a row (no constant in them: the planner would fold it and fail either way).
    await project.writeConfig(
      `export default { checks: { smoke: [
        "SELECT 1 / (1 - (SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'memo'))",
        "SELECT 1 / (CASE WHEN (SELECT COUNT(*) FROM items) = 50 AND (SELECT SUM(id) FROM items) = 1275 THEN 1 ELSE 0 END)"
      ] } };\n`,
    );
    const drill = await cli(['drill']);
    expect(drill.exitCode, drill.all).toBe(0);
    const drilled = parseReport(drill.stdout);
    expect(drilled.backup).toBe(file);
    expect(drilled.proof.tables).toEqual({ items: 50 });
    expect(drilled.proof.appliedMigrations).toEqual([]);
    expect(drilled.proof.writtenSince).toEqual([]);
    // The live database is untouched by the drill.
    expect(await count()).toBe(57);
  }, 240_000);

  it('a failed migration of the group is rolled back as with a dump, and leaves no restore point entry', async () => {
    const failing = `exports.up = async (knex) => { await knex.schema.alterTable('items', (t) => { t.text('memo'); }); await knex.raw('SELECT 1/0'); };
exports.down = async () => {};`;
    const { project, cli, columns, count } = await setUp(20, { '001_fails.js': failing });
    const run = await cli(['migrate']);
    expect(run.exitCode, run.all).toBe(2);
    const report = parseReport(run.stdout);
    expect(report.undo).toBe('rollback');
    expect(await columns()).toEqual(['id', 'name']);
    expect(await count()).toBe(20);
    expect((await project.backupFiles()).filter((name) => name.includes('pre-rollout'))).toEqual([]);
  }, 120_000);

  it('a migration outside a transaction is refused before anything starts, with the reason', async () => {
    const concurrently = `exports.config = { transaction: false };
exports.up = async (knex) => { await knex.raw('CREATE INDEX CONCURRENTLY items_name ON items (name)'); };
exports.down = async (knex) => { await knex.raw('DROP INDEX CONCURRENTLY items_name'); };`;
    const { project, cli, tables } = await setUp(10, { '001_index.js': concurrently });
    const run = await cli(['migrate']);
    expect(run.exitCode, run.all).toBe(1);
    const error = parseReport(run.stdout).error;
    expect(error.code).toBe('PREFLIGHT_FAILED');
    expect(error.message).toMatch(/001_index runs outside a transaction.*backups\.method 'pg_dump'/);
    expect(await tables()).toEqual(['items']);
    expect(await project.backupFiles()).toEqual([]);
  }, 120_000);

  it('a failing verifyCommand fails the backup: refused, rolled back, nothing changed', async () => {
    const { project, cli, columns, tables } = await setUp(5, { '001_memo.js': ADD_MEMO });
    await project.writeConfig("export default { backups: { verifyCommand: 'echo archive damaged >&2; exit 3' } };\n");
    const run = await cli(['migrate']);
    expect(run.exitCode, run.all).toBe(1);
    const error = parseReport(run.stdout).error;
    expect(error.code).toBe('BACKUP_FAILED');
    expect(error.message).toMatch(/verifyCommand failed \(exit 3\).*archive damaged/);
    expect(await columns()).toEqual(['id', 'name']);
    expect(await tables()).toEqual(['items']);
    expect((await project.backupFiles()).filter((name) => name.includes('pre-rollout'))).toEqual([]);
  }, 120_000);

  // Last: it breaks the cluster's archiving for a while (and mends it).
  it('broken archiving is refused before anything changes, naming the failing check', async () => {
    const { project, cli, columns, tables } = await setUp(5, { '001_memo.js': ADD_MEMO });
    const archiver = () =>
      withPg(cluster.url('postgres'), async (connection) => {
        const [row] = await connection.all<{ archived: Date | null; failed: Date | null }>(
          'SELECT last_archived_time AS archived, last_failed_time AS failed FROM pg_stat_archiver',
        );
        return row!;
      });
    const waitFor = async (done: (row: { archived: Date | null; failed: Date | null }) => boolean) => {
      for (let tries = 0; tries < 600 && !done(await archiver()); tries += 1) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(done(await archiver())).toBe(true);
    };
    await cluster.set('archive_command', 'false');
    try {
      await withPg(cluster.url('postgres'), async (connection) => {
        await connection.exec('CREATE TABLE IF NOT EXISTS wal_filler (n int); INSERT INTO wal_filler VALUES (1)');
        await connection.exec('SELECT pg_switch_wal()');
      });
      await waitFor((row) => row.failed !== null && (row.archived === null || row.failed > row.archived));
      const run = await cli(['migrate']);
      expect(run.exitCode, run.all).toBe(1);
      const error = parseReport(run.stdout).error;
      expect(error.code).toBe('PREFLIGHT_FAILED');
      expect(error.message).toMatch(/archiving is failing: pg_stat_archiver shows [0-9A-F]{24} failed at .*nothing was changed/);
      expect(await columns()).toEqual(['id', 'name']);
      expect(await tables()).toEqual(['items']);
      expect(await project.backupFiles()).toEqual([]);
    } finally {
      await cluster.set('archive_command', `pgbackrest --config=${cluster.config} --stanza=${cluster.stanza} archive-push %p`);
    }
    await waitFor((row) => row.archived !== null && (row.failed === null || row.archived > row.failed));
    // Mended: the same rollout goes through.
    const again = await cli(['migrate']);
    expect(again.exitCode, again.all).toBe(0);
    expect(await columns()).toEqual(['id', 'name', 'memo']);
  }, 180_000);
});

describe('backups.method restore-point where it cannot work', () => {
  const projects: TempProject[] = [];
  afterEach(async () => {
    for (const project of projects.splice(0)) await project.cleanup();
  });

  it('is refused on SQLite in one line (USAGE), and an unknown method too', async () => {
    const project = await TempProject.create();
    projects.push(project);
    await project.writeMigration(
      '001_t.js',
      "exports.up = async (knex) => knex.raw('CREATE TABLE t (id INTEGER)'); exports.down = async () => {};",
    );
    const run = await project.run(['migrate', '--json'], { env: { MIGRATE_GUARD_BACKUP_METHOD: 'restore-point' } });
    expect(run.exitCode, run.all).toBe(1);
    const error = parseReport(run.stdout).error;
    expect(error.code).toBe('USAGE');
    expect(error.message).toMatch(
      /^backups\.method 'restore-point' needs PostgreSQL with WAL archiving, and .*app\.db is a sqlite database/,
    );
    expect(error.message).not.toContain('\n');
    expect(await project.backupFiles()).toEqual([]);
    const unknown = await project.run(['migrate', '--json'], { env: { MIGRATE_GUARD_BACKUP_METHOD: 'snapshot' } });
    expect(unknown.exitCode).toBe(1);
    expect(parseReport(unknown.stdout).error.message).toBe('MIGRATE_GUARD_BACKUP_METHOD=snapshot: expected pg_dump or restore-point');
  });

  it('is refused on a server whose archive_mode is off, nothing changed', async () => {
    const database = uniqueDatabaseName('mg_rp_off');
    await withPg(PG_SERVER, (connection) => connection.exec(`CREATE DATABASE ${database}`));
    const project = await TempProject.create();
    projects.push(project);
    try {
      const url = PG_SERVER.replace(/\/[^/]*$/, `/${database}`);
      const mode = await withPg(url, async (connection) => (await connection.all<{ m: string }>('SHOW archive_mode'))[0]!.m);
      if (mode !== 'off') return; // this server archives: nothing to refuse here
      await project.writeMigration(
        '001_t.js',
        "exports.up = async (knex) => knex.raw('CREATE TABLE t (id INTEGER)'); exports.down = async () => {};",
      );
      const run = await project.run(['migrate', '--json'], { env: { DATABASE_URL: url, MIGRATE_GUARD_BACKUP_METHOD: 'restore-point' } });
      expect(run.exitCode, run.all).toBe(1);
      const error = parseReport(run.stdout).error;
      expect(error.code).toBe('PREFLIGHT_FAILED');
      expect(error.message).toMatch(/archive_mode is off on .*set archive_mode = on/);
      const tables = await withPg(url, (connection) => connection.all("SELECT 1 FROM pg_tables WHERE schemaname = 'public'"));
      expect(tables).toEqual([]);
      expect(await project.backupFiles()).toEqual([]);
    } finally {
      await withPg(PG_SERVER, (connection) => connection.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    }
  });
});
