import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, TempProject } from '../helpers/project.ts';
import { fileStamp } from '../../src/units.ts';

/**
 * Issue 24, "files it writes follow links": a link planted at a name migrate-guard writes must
 * never make it write (or chmod) the file the link points at. The victim stands for a root-only
 * file of another folder; it must keep its bytes and its mode whatever the command does.
 *
 * The temporary names of older versions were `.<name>.tmp-<pid>`: the command runs as pid 1 of a
 * pid namespace of its own (`unshare --pid`), which makes that pid known in advance, as an
 * attacker who watches pids would know it.
 */

let project: TempProject;
let outside: string;
let victim: string;
const VICTIM_BYTES = 'root-only secrets\n';

beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration(
    '001_items.ts',
    "export async function up({ context }) { await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); }); }\n",
  );
  const migrated = await project.run(['migrate']);
  if (migrated.exitCode !== 0) throw new Error(`set-up migrate failed: ${migrated.all}`);
  outside = await mkdtemp(path.join(tmpdir(), 'migrate-guard-victim-'));
  victim = path.join(outside, 'victim');
  await writeFile(victim, VICTIM_BYTES, { mode: 0o644 });
});
afterEach(async () => {
  await project.cleanup();
  await rm(outside, { recursive: true, force: true });
});

/** The victim as it was: same bytes, same mode. */
async function expectVictimUntouched(): Promise<void> {
  expect(await readFile(victim, 'utf8')).toBe(VICTIM_BYTES);
  expect((await stat(victim)).mode & 0o7777).toBe(0o644);
}

/** The CLI as pid 1 of its own pid namespace: `.<name>.tmp-1` is the name an older version would use. */
function runAsPid1(args: readonly string[]) {
  return execa('unshare', ['--pid', '--fork', '--mount-proc', 'node', BIN, ...args], {
    cwd: project.dir,
    env: { DATABASE_URL: project.db, NODE_ENV: 'development' },
    reject: false,
    all: true,
    stdin: 'ignore',
  });
}

/** Links at `.<file>.tmp-1` for every second stamp a command started now could use in its name. */
async function plantStampedLinks(folder: string, name: (stamp: string) => string): Promise<void> {
  const now = Date.now();
  for (let second = -2; second < 180; second += 1) {
    await symlink(victim, path.join(folder, `.${name(fileStamp(new Date(now + second * 1000)))}.tmp-1`)).catch(() => undefined);
  }
}

describe('symlinks planted where migrate-guard writes', () => {
  it('events.jsonl: a link there gains no line and keeps its mode', async () => {
    await mkdir(project.backups, { recursive: true, mode: 0o700 });
    await rm(path.join(project.backups, 'events.jsonl'), { force: true });
    await symlink(victim, path.join(project.backups, 'events.jsonl'));
    const result = await project.run(['backup', '--json']);
    // Refused up front (a state file that is a link, see strict-modes.test.ts); and even with the
    // check turned off, the append never goes through the link.
    expect(result.exitCode, result.all).toBe(1);
    await expectVictimUntouched();
    const forced = await project.run(['backup', '--allow-insecure-dirs']);
    expect(forced.exitCode, forced.all).toBe(0);
    await expectVictimUntouched();
    expect((await lstat(path.join(project.backups, 'events.jsonl'))).isSymbolicLink()).toBe(true);
  });

  it('the temporary backup name: a link there is never where the copy is written', async () => {
    const folder = path.join(project.backups, 'manual');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await plantStampedLinks(folder, (stamp) => `app_manual_${stamp}.db`);
    const result = await runAsPid1(['backup', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    await expectVictimUntouched();
    const backup = (JSON.parse(result.stdout) as { backup: { path: string } }).backup.path;
    const info = await lstat(backup);
    expect(info.isFile()).toBe(true);
    expect(info.isSymbolicLink()).toBe(false);
  });

  it('the lock and journal temporary names: links there are never written', async () => {
    await plantStampedLinks(project.dir, () => 'app.db.migrate-guard.lock.json');
    await symlink(victim, path.join(project.dir, '.app.db.migrate-guard.journal.json.tmp-1'));
    await project.writeMigration(
      '002_more.ts',
      "export async function up({ context }) { await context('items').insert({ name: 'more' }); }\n",
    );
    const result = await runAsPid1(['migrate']);
    expect(result.exitCode, result.all).toBe(0);
    await expectVictimUntouched();
  });

  it('the Prometheus temporary name: a link there is never written', async () => {
    const metrics = path.join(project.dir, 'metrics.prom');
    await symlink(victim, path.join(project.dir, '.metrics.prom.tmp-1'));
    const result = await runAsPid1(['health', '--prometheus', metrics]);
    expect(result.exitCode, result.all).not.toBe(2);
    await expectVictimUntouched();
    expect(await readFile(metrics, 'utf8')).toMatch(/^# HELP migrate_guard_/);
  });
});
