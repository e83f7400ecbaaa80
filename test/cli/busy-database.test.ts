import { afterEach, describe, expect, it } from 'vitest';
import { dump, sha256, TempProject } from '../helpers/project.ts';
import { addItem, createItems } from '../helpers/migrations.ts';
import { crashInWal, holdShmLock, type ShmHolder } from '../helpers/shm-lock.ts';

/**
 * Issue 22: after a crash, the next run met SQLITE_PROTOCOL ("unexpected error") when another
 * process held the database's shared memory while it opened or recovered it (on a loaded machine,
 * for seconds). Reproduced deterministically: a second process holds the -shm lock SQLite takes
 * while it opens the shared memory, so every connection of ours loses the WAL-index race.
 */
const projects: TempProject[] = [];
const holders: ShmHolder[] = [];
afterEach(async () => {
  for (const holder of holders.splice(0)) await holder.release();
  for (const project of projects.splice(0)) await project.cleanup();
});

/** A migrated project whose application crashed in WAL mode, its -shm held by another process. */
async function crashedAndHeld(): Promise<{ project: TempProject; holder: ShmHolder }> {
  const project = await TempProject.create();
  projects.push(project);
  await project.writeMigration('001_items.ts', createItems);
  const migrated = await project.run(['migrate']);
  if (migrated.exitCode !== 0) throw new Error(`set-up migrate failed: ${migrated.all}`);
  // A backup holding the items (the pre-rollout one was taken before they existed).
  const backedUp = await project.run(['backup']);
  if (backedUp.exitCode !== 0) throw new Error(`set-up backup failed: ${backedUp.all}`);
  await crashInWal(project.db);
  const holder = await holdShmLock(project.db);
  holders.push(holder);
  return { project, holder };
}

async function fingerprint(project: TempProject): Promise<string[]> {
  return [await sha256(project.db), await sha256(`${project.db}-wal`), (await project.backupFiles()).join(',')];
}

describe('a live database busy when a command opens it', () => {
  it('the next migrate waits, showing it, and succeeds once the other process lets go', async () => {
    const { project, holder } = await crashedAndHeld();
    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    const running = project.run(['migrate']);
    let stderr = '';
    running.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Released once the run is seen waiting: no clock decides the outcome.
      if (/is busy \(SQLITE_PROTOCOL/.test(stderr)) void holder.release();
    });
    const result = await running;
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toMatch(/WARNING database .*app\.db is busy \(SQLITE_PROTOCOL: .*\); waiting up to 30s for it/);
    expect(result.stderr).toMatch(/app\.db answered after \d+\.\ds/);
    expect(result.all).not.toMatch(/unexpected error/);
    const rows = await dump(project.db);
    expect(rows).toContain('"name":"from-the-app"');
    expect(rows).toContain('"name":"gamma"');
  }, 120_000);

  it('every command that opens it refuses past the wait with DATABASE_BUSY naming the holder, exit 1, nothing changed', async () => {
    // Commands that take the run lock each get a database of their own; the others share one.
    const shared = await crashedAndHeld();
    const [forRestore, forTable, forBaseline] = await Promise.all([crashedAndHeld(), crashedAndHeld(), crashedAndHeld()]);
    const backupOf = async (project: TempProject) =>
      `${project.backups}/${(await project.backupFiles()).find((file) => file.startsWith('manual/') && file.endsWith('.db'))!}`;
    const runs = [
      { ...shared, args: ['migrate', '--json'] },
      { ...shared, args: ['migrate', '--dry-run', '--json'] },
      { ...shared, args: ['status', '--json'] },
      { ...shared, args: ['backup', '--json'] },
      { ...forRestore, args: ['restore', await backupOf(forRestore.project), '--json'] },
      { ...forTable, args: ['restore-table', await backupOf(forTable.project), 'items', '--apply', '--json'] },
      { ...forBaseline, args: ['baseline', '--to', '001_items', '--json'] },
    ];
    const before = new Map<TempProject, string[]>();
    for (const { project } of runs) before.set(project, await fingerprint(project));
    const results = await Promise.all(runs.map(({ project, args }) => project.run(args)));
    for (const [i, result] of results.entries()) {
      const { args, holder } = runs[i]!;
      const report = JSON.parse(result.stdout) as { exitCode: number; error: { code: string; message: string } };
      expect(result.exitCode, `${args.join(' ')}: ${result.all}`).toBe(1);
      expect(report.error.code, args.join(' ')).toBe('DATABASE_BUSY');
      expect(report.error.message).toMatch(/stayed busy for \d+s \(SQLITE_PROTOCOL/);
      expect(report.error.message).toContain(`held by pid ${holder.pid} (perl`);
      expect(result.all).not.toMatch(/unexpected error/);
    }
    for (const [project, fingerprintBefore] of before) expect(await fingerprint(project)).toEqual(fingerprintBefore);
  }, 240_000);
});
