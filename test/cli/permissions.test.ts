import { beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { plainBackup } from '../../src/backup/plain-file.ts';
import { readManifest } from '../../src/backup/manifest.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import type { TempProject } from '../helpers/project.ts';
import { exec, parseReport } from '../helpers/project.ts';
import { addItem, createItems, partialThenThrow } from '../helpers/migrations.ts';
import { useTempProject } from '../helpers/use-project.ts';

/**
 * Who can read what migrate-guard writes: everything that holds the data or its shape gets the
 * database's permission bits (never wider), whatever the umask; the folders it creates are 0700.
 * The real CLI under `umask 022` (which would give 0644 files and 0755 folders), then a walk of
 * the project folder: every file and folder that was not there before is checked.
 */

const current = useTempProject(createItems, { migrate: false });
let project: TempProject;
beforeEach(() => {
  project = current();
});

const UMASK_022 = { shellPrefix: 'umask 022' };

/** Every path under the project folder, relative, with its permission bits. */
async function walk(dir: string): Promise<Map<string, { mode: number; folder: boolean }>> {
  const found = new Map<string, { mode: number; folder: boolean }>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const info = await stat(full);
    found.set(path.relative(dir, full), { mode: info.mode & 0o7777, folder: info.isDirectory() });
  }
  return found;
}

/** A 0o-number as people read it in a failure message. */
const octal = (mode: number) => `0${mode.toString(8)}`;

/** Runs the command under umask 022 and expects its exit code (null: any). */
async function run(args: string[], exitCode: number | null = 0, env: Record<string, string> = {}) {
  const result = await project.run(args, { ...UMASK_022, env });
  if (exitCode !== null) expect(result.exitCode, `${args.join(' ')}: ${result.all}`).toBe(exitCode);
  return result;
}

/** A database with rows, created and chmodded by the test (not by migrate-guard). */
async function databaseWithMode(mode: number): Promise<void> {
  await exec(project.db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('secret note');");
  await chmod(project.db, mode);
}

/** What every command that writes leaves behind, run once each. */
async function everyCommandThatWrites(): Promise<void> {
  await run(['migrate']);
  await project.writeMigration('002_fails.ts', partialThenThrow);
  await run(['migrate'], 2);
  await unlink(path.join(project.migrations, '002_fails.ts'));
  await run(['backup']);
  await run(['backup', '--compress']);
  await run(['backup', '--kind', 'daily']);
  const manual = parseReport((await run(['backups', '--json'])).stdout).backups.find(
    (b: { kind: string; compressed: boolean }) => b.kind === 'manual' && !b.compressed,
  ).path;
  await run(['restore', '--latest', '--yes']);
  await run(['restore-table', manual, 'items']);
  await run(['restore-table', manual, 'items', '--apply']);
  await run(['drill']);
  await run(['prune']);
  await run(['verify', '--all']);
  await project.writeMigration('003_more.ts', addItem('gamma'));
  await run(['migrate', '--dry-run']);
}

describe('who can read what migrate-guard writes', () => {
  it('a 0600 database under umask 022: every file written is at most 0600, every folder created 0700', async () => {
    await databaseWithMode(0o600);
    const before = new Set((await walk(project.dir)).keys());

    await everyCommandThatWrites();

    // What the test wrote itself (migration files) is not migrate-guard's.
    const created = [...(await walk(project.dir))].filter(([name]) => !before.has(name) && !name.startsWith('migrations/'));
    const names = created.map(([name]) => name);
    // Not a vacuous walk: the kinds of files the task is about are all there.
    for (const expected of [
      /^backups$/,
      /^backups\/pre-rollout\/.*\.db$/,
      /^backups\/manual\/.*\.db\.gz$/,
      /^backups\/daily\/.*\.db\.gz\.manifest\.json$/,
      /^backups\/events\.jsonl$/,
      /^app\.db\.pre-restore\.\d{8}_\d{6}$/,
      /^items-from-app_manual_.*\.sql$/,
      /^app\.db\.migrate-guard\.lock$/,
    ]) {
      expect(
        names.some((name) => expected.test(name)),
        `${expected} among ${names.join(', ')}`,
      ).toBe(true);
    }
    const tooWide = created
      .filter(([, { mode, folder }]) => (folder ? mode !== 0o700 : (mode & ~0o600) !== 0))
      .map(([name, { mode }]) => `${name} ${octal(mode)}`);
    expect(tooWide).toEqual([]);
    expect((await stat(project.db)).mode & 0o777).toBe(0o600);
  });

  it('a 0640 database gives 0640 backups, manifests, copies and exports (the group the operator chose), never 0644', async () => {
    await databaseWithMode(0o640);
    await run(['backup']);
    await run(['backup', '--kind', 'daily']);
    const backups = parseReport((await run(['backups', '--json'])).stdout).backups;
    await run(['restore', backups[0].path, '--yes']);
    await run(['restore-table', backups[1].path, 'notes', '--out', 'notes.sql']);

    const data = [
      ...backups.map((b: { path: string }) => b.path),
      ...backups.map((b: { path: string }) => `${b.path}.manifest.json`),
      path.join(project.dir, 'notes.sql'),
    ];
    const copies = (await readdir(project.dir)).filter((name) => name.startsWith('app.db.pre-restore.'));
    expect(copies).toHaveLength(1);
    data.push(path.join(project.dir, copies[0]!));
    for (const file of data) expect(octal((await stat(file)).mode & 0o777), file).toBe('0640');
    // Bookkeeping stays the owner's, folders too.
    expect(octal((await stat(path.join(project.backups, 'events.jsonl'))).mode & 0o777)).toBe('0600');
    for (const folder of [project.backups, path.join(project.backups, 'manual'), path.join(project.backups, 'daily')]) {
      expect(octal((await stat(folder)).mode & 0o777), folder).toBe('0700');
    }
  });

  it('temporary copies are no wider than what they copy: gunzipped backup, rehearsal copy, scratch database', async () => {
    await databaseWithMode(0o640);
    const gz = parseReport((await run(['backup', '--kind', 'daily', '--json'])).stdout).backup.path;
    const plain = await plainBackup(gz, await readManifest(gz));
    try {
      expect(octal((await stat(plain.file)).mode & 0o777)).toBe('0640');
      expect(octal((await stat(path.dirname(plain.file))).mode & 0o777)).toBe('0700');
    } finally {
      await plain.release();
    }

    const scratch = await mkdtemp(path.join(tmpdir(), 'migrate-guard-modes-'));
    try {
      const engine = sqliteEngine(project.db);
      const rehearsal = await engine.rehearsal(scratch);
      expect(octal((await stat(rehearsal.engine.name)).mode & 0o777)).toBe('0600');
      await rehearsal.drop();
      // A drill restores into a scratch database the engine makes.
      const drill = await engine.scratch(scratch);
      await drill.engine.restore(project.db, { prove: async () => undefined });
      expect(octal((await stat(drill.engine.name)).mode & 0o777)).toBe('0600');
      await drill.drop();
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

describe('a password in DATABASE_URL', () => {
  it('is in no output, --json report, manifest, event line or any other file written', async () => {
    const secret = 'Sup3r-S3cret-pw';
    await databaseWithMode(0o600);
    const env = { DATABASE_URL: `sqlite://admin:${secret}@${project.db}` };
    const outputs: string[] = [];
    const record = async (args: string[], exitCode: number | null = 0) => {
      for (const json of [false, true]) outputs.push((await run(json ? [...args, '--json'] : args, exitCode, env)).all ?? '');
    };
    await record(['migrate']);
    await record(['status']);
    await record(['backup']);
    await record(['backups']);
    await record(['verify', '--all']);
    await record(['restore', '--latest', '--yes']);
    await record(['drill']);
    await record(['health', '--prometheus', path.join(project.dir, 'metrics.prom')], null);
    await record(['restore', 'no-such-backup.db'], 1);
    await project.writeMigration('002_fails.ts', partialThenThrow);
    await record(['migrate'], 2);

    // The URL did name the database: the backups are of it.
    expect(parseReport((await run(['backups', '--json'], 0, env)).stdout).backups.length).toBeGreaterThan(2);
    for (const output of outputs) expect(output).not.toContain(secret);
    const files = [...(await walk(project.dir))].filter(([, { folder }]) => !folder).map(([name]) => path.join(project.dir, name));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) expect((await readFile(file)).includes(secret), file).toBe(false);
    // 21 runs of the CLI, each a full command: minutes on a loaded 2-core machine, not a timed assertion.
  }, 240_000);

  it('of a database URL this version cannot open is not printed either', async () => {
    const secret = 'Pg-S3cret-pw';
    for (const args of [['migrate'], ['backup', '--json'], ['status', '--json'], ['restore', '--latest']]) {
      const result = await project.run(args, { env: { DATABASE_URL: `postgres://app:${secret}@db.internal/dms` } });
      expect(result.all).not.toContain(secret);
    }
  });
});
