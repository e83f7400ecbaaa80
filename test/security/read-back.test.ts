import { beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { addItem, createItems } from '../helpers/migrations.ts';
import { BIN, exec, parseReport, query, sha256, type TempProject } from '../helpers/project.ts';
import { useTempProject } from '../helpers/use-project.ts';

/**
 * What migrate-guard reads back (the run journal, manifests, backup files) is checked before it
 * is trusted: another account, or anyone who can write the backup folder, must not be able to
 * aim a deletion or a restore with it, hang it, fill a disk through it, or quiet `health`.
 */
const current = useTempProject(createItems, { migrate: true });
let project: TempProject;
beforeEach(async () => {
  project = current();
  // The set-up migration's pre-rollout backup is not what these tests are about.
  await rm(project.backups, { recursive: true, force: true });
});

const NOBODY = 65534;
const journalFile = () => `${project.db}.migrate-guard.journal.json`;
const appliedNames = async () =>
  (await query<{ name: string }>(project.db, 'SELECT name FROM migrate_guard_migrations ORDER BY name')).map((row) => row.name);

function journal(fields: Record<string, unknown>): string {
  return JSON.stringify({
    runId: 'forged',
    pid: 999_999,
    command: 'migrate',
    state: 'backing-up',
    startedAt: '2026-03-01T10:00:00.000Z',
    backupDir: project.backups,
    backup: null,
    pendingBackup: null,
    ...fields,
  });
}

/** A file only root may read: what a forged journal would have the runner delete or copy. */
async function rootOnlyFile(name: string, content: string): Promise<string> {
  const file = path.join(project.dir, name);
  await writeFile(file, content, { mode: 0o600 });
  return file;
}

async function manualBackup(env: Record<string, string> = {}, kind = 'manual'): Promise<string> {
  const result = await project.run(['backup', '--kind', kind, '--json'], { env });
  expect(result.exitCode, result.all).toBe(0);
  return parseReport(result.stdout).backup.path as string;
}

async function rewriteManifest(
  file: string,
  change: (manifest: Record<string, any>) => Record<string, unknown>,
  target = file,
): Promise<void> {
  const manifest = JSON.parse(await readFile(`${file}.manifest.json`, 'utf8'));
  await writeFile(`${target}.manifest.json`, JSON.stringify(change(manifest)));
}

const hashOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The CLI, ended if it outlives `ms` (a hang must fail the test, not stall the run). */
function runBounded(args: readonly string[], options: { env?: Record<string, string>; shellPrefix?: string } = {}) {
  const env = { DATABASE_URL: project.db, NODE_ENV: 'development', ...options.env };
  const settings = { cwd: project.dir, env, reject: false, all: true, stdin: 'ignore', timeout: 45_000 } as const;
  if (options.shellPrefix) {
    const quoted = [BIN, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
    return execa('bash', ['-c', `${options.shellPrefix}; exec node ${quoted}`], settings);
  }
  return execa('node', [BIN, ...args], settings);
}

describe('the run journal', () => {
  beforeEach(async () => {
    await project.writeMigration('002_add.ts', addItem('gamma'));
  });

  it('is refused when another account wrote it: the file it names is not deleted', async () => {
    const victim = await rootOnlyFile('precious.txt', 'keep me');
    // Written by nobody, in a folder of its own, then moved into place: owner nobody, as if it
    // had been planted by an account that can write the database's folder.
    const staging = await mkdtemp(path.join(tmpdir(), 'migrate-guard-nobody-'));
    try {
      await chown(staging, NOBODY, NOBODY);
      const planted = path.join(staging, 'journal.json');
      const written = await execa('runuser', ['-u', 'nobody', '--', 'sh', '-c', `umask 077; cat > '${planted}'`], {
        input: journal({ pendingBackup: victim }),
        reject: false,
      });
      expect(written.exitCode, written.stderr).toBe(0);
      await rename(planted, journalFile());
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain(`is owned by uid ${NOBODY}`);
    expect(await readFile(victim, 'utf8')).toBe('keep me');
    expect(await sha256(project.db)).toBe(before);
    expect(await appliedNames()).toEqual(['001_items']);
  });

  it('is refused when others may write it', async () => {
    const victim = await rootOnlyFile('precious.txt', 'keep me');
    await writeFile(journalFile(), journal({ pendingBackup: victim }));
    await chmod(journalFile(), 0o666);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    // Refused by the state-path check before the journal is even read (UNSAFE_PATH), or by the
    // journal's own check (UNTRUSTED_FILE) when that one is opted out of.
    expect(result.all).toMatch(/writable by (every account|everyone)/);
    expect(await readFile(victim, 'utf8')).toBe('keep me');
  });

  it("does not delete a 'half-written backup' outside the backup folder", async () => {
    const victim = await rootOnlyFile('precious.txt', 'keep me');
    await writeFile(journalFile(), journal({ pendingBackup: victim }), { mode: 0o600 });
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain(`names its half-written backup ${victim}`);
    expect(await readFile(victim, 'utf8')).toBe('keep me');
    expect(existsSync(journalFile())).toBe(true);
  });

  it('does not restore another database it names as the pre-rollout backup', async () => {
    const other = path.join(project.dir, 'secret.db');
    await exec(other, "CREATE TABLE secrets (value TEXT); INSERT INTO secrets VALUES ('root only');");
    await chmod(other, 0o600);
    await writeFile(journalFile(), journal({ state: 'migrating', backup: other }), { mode: 0o600 });
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain(`names its pre-rollout backup ${other}`);
    expect(await sha256(project.db)).toBe(before);
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE name = 'secrets'")).toEqual([]);
  });

  it("does not restore another database's backup put in the backup folder under this database's name", async () => {
    const analytics = path.join(project.dir, 'analytics.db');
    expect((await project.run(['migrate'], { env: { DATABASE_URL: analytics } })).exitCode).toBe(0);
    await exec(analytics, 'DELETE FROM items');
    const theirs = await manualBackup({ DATABASE_URL: analytics }, 'pre-rollout');
    const disguised = path.join(path.dirname(theirs), 'app_pre-rollout_20260301_100000.db');
    await rename(theirs, disguised);
    await rename(`${theirs}.manifest.json`, `${disguised}.manifest.json`);
    await writeFile(journalFile(), journal({ state: 'migrating', backup: disguised }), { mode: 0o600 });
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain(`is a backup of ${analytics}`);
    expect(await sha256(project.db)).toBe(before);
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM items')).toEqual([{ n: 2 }]);
  });
});

describe('backups and manifests', () => {
  it('a gzip bomb is not decompressed past the size its manifest records', async () => {
    const real = await manualBackup({}, 'daily'); // daily: gzipped
    // 256 MiB of zeros in a quarter of a megabyte, with the real backup's manifest beside it and
    // the compressed checksum made to match: only the decompressed size can stop it.
    const bombBytes = gzipSync(Buffer.alloc(256 << 20), { level: 9 });
    const bomb = path.join(path.dirname(real), 'app_daily_20260101_000000.db.gz');
    await writeFile(bomb, bombBytes);
    await rewriteManifest(
      real,
      (manifest) => ({
        ...manifest,
        createdAt: '2026-01-01T00:00:00.000Z',
        compressedBytes: bombBytes.length,
        compressedSha256: hashOf(bombBytes),
      }),
      bomb,
    );
    const before = await sha256(project.db);
    // Files this process writes may not pass 64 MiB: a decompression that runs on fails there.
    const result = await runBounded(['restore', bomb, '--json'], { shellPrefix: 'ulimit -f 65536' });
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain('decompresses to more than');
    expect(result.all).not.toContain('EFBIG');
    expect(await sha256(project.db)).toBe(before);
    const verify = await runBounded(['verify', bomb, '--json'], { shellPrefix: 'ulimit -f 65536' });
    expect(verify.exitCode, verify.all).toBe(4);
    expect(verify.all).toContain('decompresses to more than');
  });

  it('a .gz that is not the one its manifest describes is not decompressed at all', async () => {
    const real = await manualBackup({}, 'daily');
    const bomb = path.join(path.dirname(real), 'app_daily_20260101_000000.db.gz');
    await writeFile(bomb, gzipSync(Buffer.alloc(256 << 20), { level: 9 }));
    await rewriteManifest(real, (manifest) => ({ ...manifest, createdAt: '2026-01-01T00:00:00.000Z' }), bomb);
    const result = await runBounded(['restore', bomb, '--json'], { shellPrefix: 'ulimit -f 65536' });
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain('does not match its manifest checksum');
    expect(result.all).not.toContain('EFBIG');
  });

  it('a FIFO named as the newest backup hangs neither verify --all nor restore --latest', async () => {
    const real = await manualBackup();
    const fifo = path.join(path.dirname(real), 'app_manual_29990101_000000.db');
    expect((await execa('mkfifo', [fifo])).exitCode).toBe(0);
    // Its manifest a copy of the real one's, a second newer: the newest verified backup, by its word.
    await rewriteManifest(
      real,
      (manifest) => ({ ...manifest, createdAt: new Date(Date.parse(manifest.createdAt) + 1000).toISOString() }),
      fifo,
    );
    const scrub = await runBounded(['verify', '--all', '--json']);
    expect(scrub.timedOut).toBe(false);
    expect(scrub.exitCode, scrub.all).toBe(4);
    expect(parseReport(scrub.stdout).failed).toEqual([fifo]);
    await exec(project.db, 'DELETE FROM items');
    const restore = await runBounded(['restore', '--latest', '--json']);
    expect(restore.timedOut).toBe(false);
    expect(restore.exitCode, restore.all).toBe(0);
    expect(parseReport(restore.stdout).backup).toBe(real);
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM items')).toEqual([{ n: 2 }]);
  });

  it('a manifest dated in the future does not make health healthy', async () => {
    const old = await manualBackup();
    await rewriteManifest(old, (manifest) => ({ ...manifest, createdAt: new Date(Date.now() - 3 * 86_400_000).toISOString() }));
    const forged = path.join(path.dirname(old), 'app_manual_20300101_000000.db');
    await copyFile(old, forged);
    await rewriteManifest(old, (manifest) => ({ ...manifest, createdAt: '2030-01-01T00:00:00.000Z' }), forged);
    const result = await project.run(['health', '--json']);
    expect(result.exitCode, result.all).toBe(4);
    const report = parseReport(result.stdout);
    expect(report.newestVerified.path).toBe(old);
    expect(report.alerts.map((alert: { check: string }) => alert.check)).toContain('backup-age');
    const latest = await project.run(['restore', '--latest', '--json']);
    expect(parseReport(latest.stdout).backup).toBe(old);
  });

  it('restore runs the full integrity check on a backup whose manifest matches, before touching the database', async () => {
    await exec(project.db, 'CREATE INDEX items_name ON items (name)');
    const file = await manualBackup();
    // The index entry for 'beta' edited in place: quick_check still passes, integrity_check does
    // not. The manifest's checksum is made to match, as anyone who can write the folder can.
    const bytes = await readFile(file);
    const [{ rootpage }] = (await query<{ rootpage: number }>(file, "SELECT rootpage FROM sqlite_master WHERE name = 'items_name'")) as [
      { rootpage: number },
    ];
    const pageSize = bytes.readUInt16BE(16);
    const page = bytes.subarray((rootpage - 1) * pageSize, rootpage * pageSize);
    const at = page.indexOf('beta');
    expect(at).toBeGreaterThan(0);
    page.write('betb', at);
    await writeFile(file, bytes);
    await rewriteManifest(file, (manifest) => ({ ...manifest, sha256: hashOf(bytes) }));
    expect(await query(file, 'PRAGMA quick_check')).toEqual([{ quick_check: 'ok' }]);

    const before = await sha256(project.db);
    const result = await project.run(['restore', file, '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain('fails the full integrity check');
    expect(await sha256(project.db)).toBe(before);
    const drill = await project.run(['drill', file, '--json']);
    expect(drill.exitCode, drill.all).toBe(4);
  });
});
