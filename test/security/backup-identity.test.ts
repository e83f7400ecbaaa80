import { beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { postgresDatabase } from '../helpers/databases.ts';
import { createItems } from '../helpers/migrations.ts';
import { exec, parseReport, query, sha256, type TempProject } from '../helpers/project.ts';
import { useTempProject } from '../helpers/use-project.ts';

/**
 * Two databases, one backup folder: an app and its analytics database run from the same folder,
 * so both default to ./backups. Every command keeps to the backups of the database it is given.
 */
const current = useTempProject(createItems, { migrate: true });
let project: TempProject;
let analytics: string;
/** The CLI on the analytics database, in the same folder (so the same ./backups). */
const onAnalytics = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: analytics } });

beforeEach(async () => {
  project = current();
  analytics = path.join(project.dir, 'analytics.db');
  const migrated = await onAnalytics(['migrate']);
  expect(migrated.exitCode, migrated.all).toBe(0);
  // What only the app has: what a restore of analytics' backup would lose.
  // The set-up migrations' pre-rollout backups are not what these tests are about.
  await rm(project.backups, { recursive: true, force: true });
  await exec(
    project.db,
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL); INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com');",
  );
});

const users = async () => (await query<{ n: number }>(project.db, 'SELECT COUNT(*) AS n FROM users'))[0]!.n;

async function backup(run: (args: readonly string[]) => ReturnType<TempProject['run']>, kind = 'manual'): Promise<string> {
  const result = await run(['backup', '--kind', kind, '--json']);
  expect(result.exitCode, result.all).toBe(0);
  return parseReport(result.stdout).backup.path as string;
}
const appBackup = (kind?: string) => backup((args) => project.run(args), kind);
const analyticsBackup = (kind?: string) => backup(onAnalytics, kind);

async function rewriteManifest(file: string, change: (manifest: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const manifestFile = `${file}.manifest.json`;
  await writeFile(manifestFile, JSON.stringify(change(JSON.parse(await readFile(manifestFile, 'utf8')))));
}

describe('a backup folder two databases share', () => {
  it('records the database it was taken from: its real path', async () => {
    const file = await appBackup();
    const manifest = JSON.parse(await readFile(`${file}.manifest.json`, 'utf8'));
    expect(manifest).toMatchObject({ source: project.db, identity: { path: project.db, systemIdentifier: null, database: null } });
  });

  it("restore --latest restores the app's newest backup, not analytics' newer one", async () => {
    const mine = await appBackup();
    await analyticsBackup();
    await exec(project.db, 'DELETE FROM users');
    const result = await project.run(['restore', '--latest', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(parseReport(result.stdout).backup).toBe(mine);
    expect(await users()).toBe(2);
  });

  it("restore --to chooses among the app's backups only", async () => {
    const mine = await appBackup();
    await analyticsBackup();
    const result = await project.run(['restore', '--to', new Date(Date.now() + 60_000).toISOString(), '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(parseReport(result.stdout).backup).toBe(mine);
    expect(await users()).toBe(2);
  });

  it("restore --latest with only the other database's backups refuses, the database untouched", async () => {
    await analyticsBackup();
    const before = await sha256(project.db);
    const result = await project.run(['restore', '--latest', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain(`no verified backup of ${project.db}`);
    expect(await sha256(project.db)).toBe(before);
  });

  it("refuses to restore analytics' backup named explicitly, unless --from-other-database", async () => {
    const theirs = await analyticsBackup();
    const before = await sha256(project.db);
    const refused = await project.run(['restore', theirs, '--json']);
    expect(refused.exitCode, refused.all).toBe(1);
    expect(refused.all).toContain(`is a backup of ${analytics}`);
    expect(refused.all).toContain('--from-other-database');
    expect(await sha256(project.db)).toBe(before);
    expect(await users()).toBe(2);

    const asked = await project.run(['restore', theirs, '--from-other-database', '--json']);
    expect(asked.exitCode, asked.all).toBe(0);
    const tables = await query<{ name: string }>(project.db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'");
    expect(tables).toEqual([]);
  });

  it("restore-table --apply refuses analytics' backup unless --from-other-database; exporting it stays allowed", async () => {
    await exec(analytics, "INSERT INTO items (name) VALUES ('theirs')");
    const theirs = await analyticsBackup();
    const before = await sha256(project.db);
    const refused = await project.run(['restore-table', theirs, 'items', '--apply', '--json']);
    expect(refused.exitCode, refused.all).toBe(1);
    expect(parseReport(refused.stdout).error.code).toBe('BACKUP_INVALID');
    expect(refused.all).toContain(`is a backup of ${analytics}`);
    expect(await sha256(project.db)).toBe(before);

    const exported = await project.run(['restore-table', theirs, 'items', '--out', path.join(project.dir, 'items.sql'), '--json']);
    expect(exported.exitCode, exported.all).toBe(0);
    expect(await readFile(path.join(project.dir, 'items.sql'), 'utf8')).toContain('theirs');

    const asked = await project.run(['restore-table', theirs, 'items', '--apply', '--from-other-database', '--json']);
    expect(asked.exitCode, asked.all).toBe(0);
    const names = await query<{ name: string }>(project.db, 'SELECT name FROM items');
    expect(names.map((row) => row.name)).toContain('theirs');
  });

  it("drill drills the app's newest backup, not analytics' newer one", async () => {
    const mine = await appBackup();
    await analyticsBackup();
    const result = await project.run(['drill', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.backup).toBe(mine);
    expect(report.proof.tables.users).toBe(2);
  });

  it("prune keeps the app's only daily backup, whatever analytics has that day", async () => {
    const mine = await appBackup('daily');
    const theirs = await analyticsBackup('daily');
    // The same day, analytics' the newer: "a newer backup of the same day" is not the app's.
    await rewriteManifest(mine, (manifest) => ({ ...manifest, createdAt: '2026-03-10T01:00:00.000Z' }));
    await rewriteManifest(theirs, (manifest) => ({ ...manifest, createdAt: '2026-03-10T02:00:00.000Z' }));
    const env = { MIGRATE_GUARD_NOW: '2026-03-10T12:00:00.000Z' };
    const dry = await project.run(['prune', '--dry-run', '--json'], { env });
    expect(dry.exitCode, dry.all).toBe(0);
    const report = parseReport(dry.stdout);
    expect(report.removed).toEqual([]);
    expect(report.kept).toEqual([mine]);
    const pruned = await project.run(['prune', '--json'], { env });
    expect(pruned.exitCode, pruned.all).toBe(0);
    const pruneAnalytics = await project.run(['prune', '--json'], { env: { ...env, DATABASE_URL: analytics } });
    expect(pruneAnalytics.exitCode, pruneAnalytics.all).toBe(0);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(theirs)).toBe(true);
  });

  it('health alerts when only the other database has a recent backup', async () => {
    await analyticsBackup();
    const result = await project.run(['health', '--json']);
    expect(result.exitCode, result.all).toBe(4);
    const report = parseReport(result.stdout);
    expect(report.newestVerified).toBeNull();
    expect(report.alerts.map((alert: { check: string }) => alert.check)).toContain('backup-age');
  });

  it("verify --all re-reads the app's backups only, and leaves analytics' manifests alone", async () => {
    const mine = await appBackup();
    const theirs = await analyticsBackup();
    const theirManifest = await readFile(`${theirs}.manifest.json`, 'utf8');
    const result = await project.run(['verify', '--all', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(parseReport(result.stdout).backups.map((entry: { path: string }) => entry.path)).toEqual([mine]);
    expect(await readFile(`${theirs}.manifest.json`, 'utf8')).toBe(theirManifest);
  });

  it('backups lists its own, with their source, and counts the others', async () => {
    const mine = await appBackup();
    await analyticsBackup();
    const result = await project.run(['backups', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ database: project.db, otherDatabases: 1 });
    expect(report.backups).toEqual([expect.objectContaining({ path: mine, source: project.db })]);
    const human = await project.run(['backups']);
    expect(human.stderr).toContain('1 backup(s) of other databases in this folder are not listed');
  });

  it('matches a manifest written before identities by its source', async () => {
    const mine = await appBackup();
    const theirs = await analyticsBackup();
    for (const file of [mine, theirs]) {
      await rewriteManifest(file, ({ identity: _identity, ...manifest }) => manifest);
    }
    await exec(project.db, 'DELETE FROM users');
    const result = await project.run(['restore', '--latest', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(parseReport(result.stdout).backup).toBe(mine);
    expect(await users()).toBe(2);
  });

  it('knows the same database reached through a linked folder', async () => {
    const mine = await appBackup();
    const linked = path.join(project.dir, 'linked');
    await symlink(project.dir, linked);
    await exec(project.db, 'DELETE FROM users');
    const result = await project.run(['restore', '--latest', '--json'], { env: { DATABASE_URL: path.join(linked, 'app.db') } });
    expect(result.exitCode, result.all).toBe(0);
    expect(parseReport(result.stdout).backup).toBe(mine);
    expect(await users()).toBe(2);
  });
});

describe('two PostgreSQL databases sharing a backup folder', () => {
  it("records the cluster's system_identifier and the database, and keeps each to its own", async () => {
    const app = await postgresDatabase('mg_identity_app');
    const other = await postgresDatabase('mg_identity_other');
    try {
      await app.exec(
        "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL); INSERT INTO users (email) VALUES ('a@example.com');",
      );
      await other.exec('CREATE TABLE events (id serial PRIMARY KEY);');
      const onApp = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: app.url } });
      const onOther = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: other.url } });
      const mine = await backup(onApp);
      const theirs = await backup(onOther);
      const id = (await app.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]?.id;
      const manifest = JSON.parse(await readFile(`${theirs}.manifest.json`, 'utf8'));
      expect(manifest.identity).toEqual({ path: null, systemIdentifier: id, database: other.name });

      const refused = await onApp(['restore', theirs, '--json']);
      expect(refused.exitCode, refused.all).toBe(1);
      expect(refused.all).toContain('--from-other-database');
      expect(await app.query('SELECT email FROM users')).toEqual([{ email: 'a@example.com' }]);

      await app.exec('DELETE FROM users');
      const latest = await onApp(['restore', '--latest', '--json']);
      expect(latest.exitCode, latest.all).toBe(0);
      expect(parseReport(latest.stdout).backup).toBe(mine);
      expect(await app.query('SELECT email FROM users')).toEqual([{ email: 'a@example.com' }]);
    } finally {
      await app.drop();
      await other.drop();
    }
  });
});
