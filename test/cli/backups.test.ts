import { beforeEach, describe, expect, it } from 'vitest';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { dump, exec, parseReport, query, sha256, type TempProject } from '../helpers/project.ts';
import { createItems } from '../helpers/migrations.ts';
import { startWriter } from '../helpers/writer.ts';
import { useTempProject } from '../helpers/use-project.ts';

const current = useTempProject(createItems, { migrate: true });
let project: TempProject;
beforeEach(() => {
  project = current();
});

const events = async () =>
  (await readFile(path.join(project.backups, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));

describe('backup', () => {
  it('writes a verified manual backup into its kind folder, with manifest and an event line', async () => {
    const result = await project.run(['backup', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const { backup } = parseReport(result.stdout);
    expect(path.relative(project.backups, backup.path)).toMatch(/^manual\/app_manual_\d{8}_\d{6}\.db$/);
    expect(backup).toMatchObject({ kind: 'manual', verified: true, compressed: false, sha256: await sha256(backup.path) });
    const manifest = JSON.parse(await readFile(`${backup.path}.manifest.json`, 'utf8'));
    expect(manifest.tables).toEqual({ items: 2, migrate_guard_migrations: 1 });
    expect(await dump(backup.path)).toBe(await dump(project.db));
    expect((await events()).at(-1)).toMatchObject({ job: 'backup', kind: 'manual', file: backup.path, verified: true, error: null });
  });

  it('gzips daily backups by default, and the .gz decompresses byte-exact to the verified copy', async () => {
    const result = await project.run(['backup', '--kind', 'daily', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const { backup } = parseReport(result.stdout);
    expect(backup.path).toMatch(/daily\/app_daily_\d{8}_\d{6}\.db\.gz$/);
    const manifest = JSON.parse(await readFile(`${backup.path}.manifest.json`, 'utf8'));
    expect(manifest).toMatchObject({ compressed: true, compressedSha256: await sha256(backup.path) });
    const plain = path.join(project.dir, 'restored.db');
    await pipeline(createReadStream(backup.path), createGunzip(), createWriteStream(plain));
    expect(await sha256(plain)).toBe(manifest.sha256);
    expect(await dump(plain)).toBe(await dump(project.db));
    const verify = await project.run(['verify', backup.path, '--json']);
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(parseReport(verify.stdout).tables).toEqual({ items: 2, migrate_guard_migrations: 1 });
    const uncompressed = await project.run(['backup', '--kind', 'daily', '--no-compress', '--json']);
    expect(parseReport(uncompressed.stdout).backup.path).toMatch(/\.db$/);
  });

  it('takes a consistent hot backup while another process writes in a loop', async () => {
    const stop = path.join(project.dir, 'stop');
    const writer = startWriter(project.db, stop, { wal: true });
    await writer.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await project.run(['backup', '--kind', 'hot', '--json']);
    await writeFile(stop, '');
    const writerResult = await writer.child;
    expect(result.exitCode, result.stderr).toBe(0);
    const { backup } = parseReport(result.stdout);
    const [counts] = await query<{ ledger: number; entries: number }>(
      backup.path,
      'SELECT (SELECT COUNT(*) FROM ledger) AS ledger, (SELECT COUNT(*) FROM journal_entries) AS entries',
    );
    expect(counts!.ledger).toBeGreaterThan(0);
    expect(counts!.ledger).toBe(counts!.entries);
    expect(await query(backup.path, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    const stats = JSON.parse(writerResult.stdout.trim().split('\n').at(-1)!);
    // Not a timing assertion: the figure goes into the log for the record.
    console.log(`hot backup under a WAL writer: ${stats.commits} commits, worst commit ${stats.worstMs} ms`);
    expect(stats.commits).toBeGreaterThan(0);
  });
});

describe('verify', () => {
  it('exits 4 for a backup whose bytes changed, and records the failure', async () => {
    const { backup } = parseReport((await project.run(['backup', '--json'])).stdout);
    const bytes = await readFile(backup.path);
    bytes[bytes.length - 10]! ^= 0xff;
    await writeFile(backup.path, bytes);
    const result = await project.run(['verify', backup.path, '--json']);
    expect(result.exitCode).toBe(4);
    const report = parseReport(result.stdout);
    expect(report.checks.find((check: { name: string }) => check.name === 'checksum')).toMatchObject({ ok: false });
    expect((await events()).at(-1)).toMatchObject({ job: 'verify', verified: false });
  });

  it('exits 4 for a corrupted compressed backup', async () => {
    const { backup } = parseReport((await project.run(['backup', '--kind', 'weekly', '--json'])).stdout);
    const bytes = await readFile(backup.path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(backup.path, bytes);
    const result = await project.run(['verify', backup.path, '--json']);
    expect(result.exitCode).toBe(4);
  });

  it('refuses a file that is not a backup with exit 1 and one line', async () => {
    const notes = path.join(project.dir, 'notes.txt');
    await writeFile(notes, 'hello');
    const text = await project.run(['verify', notes]);
    expect(text.exitCode).toBe(1);
    expect(text.stderr.trim().split('\n')).toHaveLength(1);
    expect(text.stderr).toContain('not a backup');
    const bare = await project.run(['verify', project.db]);
    expect(bare.exitCode).toBe(1);
    expect(bare.stderr).toContain('no manifest');
    const missing = await project.run(['verify', 'nope.db']);
    expect(missing.exitCode).toBe(1);
  });
});

describe('backups', () => {
  it('lists backups newest first with the contract keys', async () => {
    await project.run(['backup']);
    await project.run(['backup', '--kind', 'monthly']);
    const result = await project.run(['backups', '--json']);
    expect(result.exitCode).toBe(0);
    const { backups } = parseReport(result.stdout);
    expect(backups.map((b: { kind: string }) => b.kind)).toEqual(['monthly', 'manual', 'pre-rollout']);
    for (const entry of backups)
      expect(Object.keys(entry)).toEqual(expect.arrayContaining(['path', 'kind', 'createdAt', 'bytes', 'sha256', 'verified']));
  });
});

describe('health', () => {
  it('is healthy after a fresh verified backup, and alerts when it is too old (exit 4, onAlert runs)', async () => {
    await project.writeConfig(`export default { hooks: { onAlert: 'echo "$MIGRATE_GUARD_ALERT_CHECK" >> alerts.log' } };`);
    await project.run(['backup']);
    const healthy = await project.run(['health', '--json']);
    expect(healthy.exitCode, healthy.stdout).toBe(0);
    const later = new Date(Date.now() + 30 * 3_600_000).toISOString();
    const stale = await project.run(['health', '--json'], { env: { MIGRATE_GUARD_NOW: later } });
    expect(stale.exitCode).toBe(4);
    // Backups for 30 h and never a scrub (verify --all): that alerts too.
    expect(parseReport(stale.stdout).alerts.map((alert: { check: string }) => alert.check)).toEqual(['backup-age', 'scrub-age']);
    expect(await readFile(path.join(project.dir, 'alerts.log'), 'utf8')).toBe('backup-age\nscrub-age\n');
  });

  it('alerts on a size change over 20% within a kind, a failed job, and low free space', async () => {
    await project.run(['backup', '--kind', 'hot']);
    await exec(
      project.db,
      'CREATE TABLE bulk (b); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO bulk SELECT randomblob(1000) FROM c;',
    );
    await project.run(['backup', '--kind', 'hot']);
    const { backup } = parseReport((await project.run(['backup', '--json'])).stdout);
    const bytes = await readFile(backup.path);
    bytes[100]! ^= 0xff;
    await writeFile(backup.path, bytes);
    expect((await project.run(['verify', backup.path])).exitCode).toBe(4);
    await project.writeConfig('export default { thresholds: { freeSpaceFactor: 1e12 } };');
    const result = await project.run(['health', '--json']);
    expect(result.exitCode).toBe(4);
    const checks = parseReport(result.stdout)
      .alerts.map((alert: { check: string }) => alert.check)
      .sort();
    expect(checks).toEqual(['failed-job', 'free-space', 'size-change']);
  });
});

describe('prune', () => {
  it('lists with --dry-run, then removes old daily backups with their manifests, keeping pre-rollout ones', async () => {
    const first = parseReport((await project.run(['backup', '--kind', 'daily', '--json'])).stdout).backup.path;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = parseReport((await project.run(['backup', '--kind', 'daily', '--json'])).stdout).backup.path;
    const before = await project.backupFiles();
    // Both backups fall on one day: only the newest of that day stays.
    const dry = await project.run(['prune', '--dry-run', '--json']);
    expect(dry.exitCode).toBe(0);
    expect(parseReport(dry.stdout).removed).toEqual([first]);
    expect(await project.backupFiles()).toEqual(before);
    const real = await project.run(['prune', '--json']);
    expect(real.exitCode).toBe(0);
    const after = await project.backupFiles();
    expect(after.some((file) => file.includes(path.basename(first)))).toBe(false);
    expect(after).toContain(path.relative(project.backups, second));
    expect(after.some((file) => file.startsWith('pre-rollout/'))).toBe(true);
  });

  it("removes what killed writers left: a dead run's temporary files and a manifest without its backup, once ten minutes old", async () => {
    const folder = path.join(project.backups, 'manual');
    await mkdir(folder, { recursive: true });
    // A pid no process has (pid_max is at most 2^22), a live one (this test's), and a manifest alone.
    const dead = path.join(folder, '.app_manual_20260101_000000.db.gz.tmp-4194999');
    const deadGz = `${dead}.gz`;
    const live = path.join(folder, `.app_manual_20260101_000001.db.tmp-${process.pid}`);
    const orphan = path.join(folder, 'app_manual_20260101_000002.db.manifest.json');
    const young = path.join(folder, '.app_manual_20260101_000003.db.tmp-4194998');
    // In the folder itself: a server's half-written pre-restore dump, and the event log (never a leftover).
    const rootDead = path.join(project.backups, '.app.pre-restore.20260101_000004.dump.tmp-4194997');
    const log = path.join(project.backups, 'events.jsonl');
    for (const file of [dead, deadGz, live, orphan, young, rootDead]) await writeFile(file, 'x');
    const old = new Date(Date.now() - 11 * 60_000);
    for (const file of [dead, deadGz, live, orphan, rootDead]) await utimes(file, old, old);
    if (existsSync(log)) await utimes(log, old, old);
    const dry = parseReport((await project.run(['prune', '--dry-run', '--json'])).stdout);
    expect([...dry.leftovers].sort()).toEqual([dead, deadGz, orphan, rootDead].sort());
    expect(existsSync(dead)).toBe(true);
    const real = await project.run(['prune', '--json']);
    expect(real.exitCode).toBe(0);
    expect([dead, deadGz, live, orphan, young, rootDead].map((file) => existsSync(file))).toEqual([false, false, true, false, true, false]);
  });
});
