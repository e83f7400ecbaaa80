import { beforeEach, describe, expect, it } from 'vitest';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TempProject } from '../helpers/project.ts';
import { exec, parseReport, query } from '../helpers/project.ts';
import { useTempProject } from '../helpers/use-project.ts';
import { createItems } from '../helpers/migrations.ts';

const current = useTempProject(createItems, { migrate: true });
let project: TempProject;
beforeEach(() => {
  project = current();
});

const backupJson = async (args: string[]) => {
  const result = await project.run(['backup', ...args, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return parseReport(result.stdout).backup.path as string;
};
const flipByte = async (file: string, at: number) => {
  const bytes = await readFile(file);
  bytes[at]! ^= 0xff;
  await writeFile(file, bytes);
};
const events = async () =>
  (await readFile(path.join(project.backups, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
const manifestOf = async (file: string) => JSON.parse(await readFile(`${file}.manifest.json`, 'utf8'));

describe('verify --all (the daily scrub)', () => {
  it('finds a flipped byte, names the backup, exits 4, and the backup stops counting as verified everywhere', async () => {
    const older = await backupJson(['--kind', 'daily']);
    await exec(project.db, "INSERT INTO items (name) VALUES ('after-older')");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const newer = await backupJson(['--kind', 'daily']);
    const manifestMode = (await stat(`${newer}.manifest.json`)).mode & 0o777;

    const clean = await project.run(['verify', '--all', '--json']);
    expect(clean.exitCode, clean.stderr).toBe(0);
    expect(parseReport(clean.stdout).backups.map((entry: { result: string }) => entry.result)).toEqual(['ok', 'ok', 'ok']);

    await flipByte(newer, 200);
    const scrub = await project.run(['verify', '--all', '--json']);
    expect(scrub.exitCode).toBe(4);
    const report = parseReport(scrub.stdout);
    expect(report).toMatchObject({ command: 'verify', ok: false, exitCode: 4, all: true, deep: false, failed: [newer] });
    expect(report.backups.find((entry: { path: string }) => entry.path === newer)).toMatchObject({
      result: 'failed',
      error: expect.stringContaining('compressed-checksum'),
    });
    const human = await project.run(['verify', '--all']);
    expect(human.exitCode).toBe(4);
    expect(human.stderr).toContain(`FAILED ${newer}`);

    // The verdict is kept in the manifest, rewritten with the mode it had.
    expect(await manifestOf(newer)).toMatchObject({
      verified: false,
      scrubLevel: 'checksum',
      scrubError: expect.stringContaining('differs'),
    });
    expect((await stat(`${newer}.manifest.json`)).mode & 0o777).toBe(manifestMode);
    expect(await manifestOf(older)).toMatchObject({ verified: true, scrubError: null, scrubbedAt: expect.any(String) });
    const scrubLines = (await events()).filter((event) => event.job === 'scrub');
    expect(scrubLines.filter((event) => event.file === newer).at(-1)).toMatchObject({
      kind: 'daily',
      error: expect.stringContaining('differs'),
    });
    expect(scrubLines.at(-1)).toMatchObject({ file: null, error: expect.stringContaining(newer) });

    // backups: unverified, with why.
    const listed = parseReport((await project.run(['backups', '--json'])).stdout).backups;
    expect(listed.find((entry: { path: string }) => entry.path === newer)).toMatchObject({
      verified: false,
      scrubError: expect.stringContaining('differs'),
    });
    expect(listed.find((entry: { path: string }) => entry.path === older)).toMatchObject({ verified: true, scrubError: null });

    // prune: the corrupt one is not the newest verified backup of the day any more; the older one is kept.
    const prune = parseReport((await project.run(['prune', '--dry-run', '--json'])).stdout);
    expect(prune.removed).toEqual([newer]);
    expect(prune.kept).toContain(older);

    // restore --latest takes the previous one (which has not got the row written after it).
    const restore = await project.run(['restore', '--latest', '--json']);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(parseReport(restore.stdout).backup).toBe(older);
    expect(await query(project.db, "SELECT COUNT(*) AS n FROM items WHERE name = 'after-older'")).toEqual([{ n: 0 }]);

    // restore --to a time after both, and the drill, skip it too.
    const to = await project.run(['restore', '--to', new Date(Date.now() + 60_000).toISOString(), '--json']);
    expect(parseReport(to.stdout).backup).toBe(older);
    const drill = await project.run(['drill', '--json']);
    expect(drill.exitCode, drill.stderr).toBe(0);
    expect(parseReport(drill.stdout).backup).not.toBe(newer);

    // health alerts on it, naming it.
    const health = await project.run(['health', '--json']);
    expect(health.exitCode).toBe(4);
    const alerts = parseReport(health.stdout).alerts.filter((alert: { check: string }) => alert.check === 'scrub-failed');
    expect(alerts).toHaveLength(1);
    expect(alerts[0].message).toContain(newer);
    expect(parseReport(health.stdout).scrub.failed).toEqual([newer]);

    // Put the byte back: the next scrub finds it matching, and it counts as verified again.
    await flipByte(newer, 200);
    expect((await project.run(['verify', '--all'])).exitCode).toBe(0);
    expect(await manifestOf(newer)).toMatchObject({ verified: true, scrubError: null });
  });

  it('--deep adds the full proof: a manifest whose row counts no longer match passes the checksums, not --deep', async () => {
    const file = await backupJson([]);
    const manifest = await manifestOf(file);
    await writeFile(
      `${file}.manifest.json`,
      JSON.stringify({ ...manifest, tables: { ...manifest.tables, items: manifest.tables.items + 1 } }),
    );
    expect((await project.run(['verify', '--all'])).exitCode).toBe(0);
    const deep = await project.run(['verify', '--all', '--deep', '--json']);
    expect(deep.exitCode).toBe(4);
    expect(parseReport(deep.stdout)).toMatchObject({ deep: true, failed: [file] });
    expect(await manifestOf(file)).toMatchObject({
      verified: false,
      scrubLevel: 'deep',
      scrubError: expect.stringContaining('row-counts'),
    });
  });

  it('needs exactly one of <backup> and --all, in one line, exit 1', async () => {
    for (const args of [['verify'], ['verify', 'x.db', '--all']]) {
      const result = await project.run([...args, '--json']);
      expect(result.exitCode).toBe(1);
      expect(parseReport(result.stdout).error).toMatchObject({ code: 'USAGE', message: 'verify needs exactly one of: <backup>, --all' });
    }
  });

  it('health alerts when the last scrub is older than health.scrubMaxAgeHours, not before', async () => {
    await project.run(['backup']);
    expect((await project.run(['verify', '--all'])).exitCode).toBe(0);
    const checksAt = async (hours: number) => {
      const result = await project.run(['health', '--json'], {
        env: { MIGRATE_GUARD_NOW: new Date(Date.now() + hours * 3_600_000).toISOString() },
      });
      return parseReport(result.stdout).alerts.map((alert: { check: string }) => alert.check);
    };
    expect(await checksAt(25)).not.toContain('scrub-age');
    expect(await checksAt(27)).toContain('scrub-age');
    await project.writeConfig('export default { health: { scrubMaxAgeHours: 48 } };');
    expect(await checksAt(27)).not.toContain('scrub-age');
  });
});
