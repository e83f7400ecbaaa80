import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { TempProject, exec, parseReport, query, BIN } from '../helpers/project.ts';
import { createItems, partialThenThrow } from '../helpers/migrations.ts';
import { watched } from '../helpers/unexpected-errors.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration('001_items.ts', createItems);
  await project.writeConfig(`export default { archive: { syncInterval: '100ms' } };`);
  expect((await project.run(['migrate'])).exitCode).toBe(0);
});
afterEach(async () => {
  await project.cleanup();
});

/** Alive and not a zombie (an orphan's exit is reaped by whoever adopted it, maybe not at once). */
async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && !/^\d+ \(.*\) [ZX]/.test(stat);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Whole seconds, as `restore --to` takes them. */
const second = (at: Date) => at.toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('archive and point-in-time restore', () => {
  it('restores to a second between three writes, getting exactly the rows committed by then', async () => {
    const archive = watched(
      ['archive'],
      execa('node', [BIN, 'archive'], { cwd: project.dir, env: { DATABASE_URL: project.db }, reject: false, all: true }),
    );
    let firstAt = 0;
    try {
      await sleep(2500);
      await exec(project.db, "INSERT INTO items (name) VALUES ('first')");
      firstAt = Date.now();
      // Litestream ships the WAL within about a second (more on a loaded CI machine): 7 s apart
      // leaves room on both sides of the target second.
      await sleep(7000);
      await exec(project.db, "INSERT INTO items (name) VALUES ('second')");
      await sleep(2500);
      await exec(project.db, "INSERT INTO items (name) VALUES ('third')");
      await sleep(2500);
    } finally {
      archive.kill('SIGTERM');
    }
    const stopped = await archive;
    expect(stopped.exitCode, stopped.all).toBe(0);

    // A second 2.5–3.5 s after 'first' was committed and 3.5 s or more before 'second' was.
    const result = await project.run(['restore', '--to', second(new Date(firstAt + 3500)), '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.source).toBe('archive');
    expect(await query(project.db, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }, { name: 'first' }]);
  });

  it('falls back to the newest backup before the time when there is no archive, and says so', async () => {
    await project.writeConfig('export default {};');
    await project.run(['backup']);
    await exec(project.db, "INSERT INTO items (name) VALUES ('after-backup')");
    const result = await project.run(['restore', '--to', new Date(Date.now() + 60_000).toISOString(), '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(parseReport(result.stdout).source).toBe('backup');
    expect(await query(project.db, "SELECT COUNT(*) AS n FROM items WHERE name = 'after-backup'")).toEqual([{ n: 0 }]);
  });

  it('a SIGKILLed archive takes its Litestream down with it (no orphan replicating beside the next one)', async () => {
    const archive = watched(
      ['archive'],
      execa('node', [BIN, 'archive'], { cwd: project.dir, env: { DATABASE_URL: project.db }, reject: false }),
    );
    let litestream: number | null = null;
    for (let waited = 0; litestream === null && waited < 10_000; waited += 100) {
      await sleep(100);
      const children = await readFile(`/proc/${archive.pid}/task/${archive.pid}/children`, 'utf8').catch(() => '');
      for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('litestream')) litestream = pid;
      }
    }
    expect(litestream, 'Litestream never started').not.toBeNull();
    // Past its start-up lines: an orphan that logs again dies of the closed pipe, one that stays
    // quiet (no writes to ship) would replicate on.
    await sleep(3000);
    archive.kill('SIGKILL');
    await archive;
    let running = true;
    for (let waited = 0; running && waited < 15_000; waited += 100) {
      await sleep(100);
      running = await isRunning(litestream!);
    }
    if (running) process.kill(litestream!, 'SIGKILL');
    expect(running).toBe(false);
  });

  it('health reports the archive lag, and alerts once archiving has stopped while the app writes', async () => {
    await project.writeConfig(`export default { archive: { syncInterval: '100ms', maxLagSeconds: 1 } };`);
    const archive = watched(
      ['archive'],
      execa('node', [BIN, 'archive'], { cwd: project.dir, env: { DATABASE_URL: project.db }, reject: false }),
    );
    await sleep(2500);
    await exec(project.db, "INSERT INTO items (name) VALUES ('archived')");
    await sleep(3000);
    const running = parseReport((await project.run(['health', '--json'])).stdout);
    expect(running.archive.recoveryPoint).not.toBeNull();
    expect(running.alerts.map((a: { check: string }) => a.check)).not.toContain('archive-lag');
    archive.kill('SIGTERM');
    await archive;
    await sleep(2500);
    await exec(project.db, "INSERT INTO items (name) VALUES ('not archived')");
    const stopped = await project.run(['health', '--json']);
    expect(stopped.exitCode).toBe(4);
    expect(parseReport(stopped.stdout).alerts.map((a: { check: string }) => a.check)).toContain('archive-lag');
  });

  it('after a failed rollout and its automatic restore, the archive restores to before the rollout and to now', async () => {
    const archive = watched(
      ['archive'],
      execa('node', [BIN, 'archive'], { cwd: project.dir, env: { DATABASE_URL: project.db }, reject: false, all: true }),
    );
    let beforeRollout = 0;
    try {
      await sleep(2500);
      await exec(project.db, "INSERT INTO items (name) VALUES ('before-rollout')");
      beforeRollout = Date.now();
      await sleep(7000);
      await project.writeMigration('002_broken.ts', partialThenThrow);
      const rollout = await project.run(['migrate']);
      expect(rollout.exitCode, rollout.stderr).toBe(2);
      await exec(project.db, "INSERT INTO items (name) VALUES ('after-restore')");
      await sleep(2500);
    } finally {
      archive.kill('SIGTERM');
      await archive;
    }
    const names = async () => (await query<{ name: string }>(project.db, 'SELECT name FROM items ORDER BY id')).map((row) => row.name);
    const toNow = await project.run(['drill', '--from-archive', '--json']);
    expect(toNow.exitCode, toNow.stderr).toBe(0);
    const past = await project.run(['restore', '--to', second(new Date(beforeRollout + 3500)), '--json']);
    expect(past.exitCode, past.stderr).toBe(0);
    expect(parseReport(past.stdout).source).toBe('archive');
    expect(await names()).toEqual(['alpha', 'beta', 'before-rollout']);
    // "Now" is after the last archived segment: the archive's latest point, not an older backup.
    const now = await project.run(['restore', '--to', second(new Date()), '--json']);
    expect(now.exitCode, now.stderr).toBe(0);
    expect(parseReport(now.stdout).source).toBe('archive');
    expect(await names()).toEqual(['alpha', 'beta', 'before-rollout', 'after-restore']);
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE name = 'half_done'")).toEqual([]);
  });
});
