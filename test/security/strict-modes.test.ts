import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { sha256, TempProject } from '../helpers/project.ts';

/**
 * Issue 24, "like ssh's StrictModes": a backup folder or state file that another account can
 * write, or owns, is refused (exit 1, one line naming it and the fix) before anything is read or
 * written, unless the run opts out. `nobody` stands for the application's account.
 */

let project: TempProject;
let nobody: number;

beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration(
    '001_items.ts',
    "export async function up({ context }) { await context.schema.createTable('items', (t) => { t.increments('id'); }); }\n",
  );
  const migrated = await project.run(['migrate']);
  if (migrated.exitCode !== 0) throw new Error(`set-up migrate failed: ${migrated.all}`);
  nobody = Number((await execa('id', ['-u', 'nobody'])).stdout);
});
afterEach(async () => {
  await project.cleanup();
});

interface Refusal {
  readonly exitCode: number;
  readonly error: { readonly code: string; readonly message: string };
}

/** `backup --json` refused: exit 1, UNSAFE_PATH naming `target` and `fix`, and no backup written. */
async function expectRefused(target: string, fix: RegExp, env: Record<string, string> = {}): Promise<void> {
  const before = await sha256(project.db);
  const result = await project.run(['backup', '--json'], { env });
  expect(result.exitCode, result.all).toBe(1);
  const report = JSON.parse(result.stdout) as Refusal;
  expect(report.error.code).toBe('UNSAFE_PATH');
  expect(report.error.message).toContain(target);
  expect(report.error.message).toMatch(fix);
  expect(report.error.message).toContain('--allow-insecure-dirs');
  expect(await readdir(path.join(project.backups, 'manual')).catch(() => [])).toEqual([]);
  expect(await sha256(project.db)).toBe(before);
}

describe('a backup folder or state file others can change is refused', () => {
  it('a backup folder writable by everyone', async () => {
    await chmod(project.backups, 0o777);
    await expectRefused(project.backups, /writable by everyone \(mode 0777\).*chmod go-w/);
  });

  it('a backup folder writable by its group', async () => {
    await chmod(project.backups, 0o770);
    await expectRefused(project.backups, /writable by its group.*chmod go-w/);
  });

  it("a backup folder owned by another account (the application's)", async () => {
    await chown(project.backups, nobody, 0);
    await expectRefused(project.backups, new RegExp(`owned by uid ${nobody}.*chown`));
  });

  it('a kind folder owned by another account', async () => {
    const folder = path.join(project.backups, 'manual');
    await mkdir(folder, { mode: 0o700 });
    await chown(folder, nobody, 0);
    await expectRefused(folder, /owned by uid/);
  });

  it('a lock file left by another account', async () => {
    const holder = `${project.db}.migrate-guard.lock.json`;
    await writeFile(holder, '{}\n', { mode: 0o600 });
    await chown(holder, nobody, 0);
    await expectRefused(holder, /owned by uid/);
  });

  it('an event log that is not a regular file', async () => {
    const log = path.join(project.backups, 'events.jsonl');
    await execa('rm', ['-f', log]);
    await execa('mkfifo', [log]);
    await expectRefused(log, /not a regular file.*rm /);
  });

  it('runs when the risk is accepted: flag, environment or config', async () => {
    await chmod(project.backups, 0o777);
    const flag = await project.run(['backup', '--allow-insecure-dirs']);
    expect(flag.exitCode, flag.all).toBe(0);
    const env = await project.run(['backup'], { env: { MIGRATE_GUARD_ALLOW_INSECURE_DIRS: '1' } });
    expect(env.exitCode, env.all).toBe(0);
    await project.writeConfig('export default { allowInsecureDirs: true };\n');
    const config = await project.run(['backup']);
    expect(config.exitCode, config.all).toBe(0);
    expect((await readdir(path.join(project.backups, 'manual'))).filter((name) => name.endsWith('.db'))).toHaveLength(3);
  });
});
