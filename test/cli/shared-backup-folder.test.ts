import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readBackupEvents } from '../../src/backup/event-log.ts';
import { exec, parseReport, TempProject } from '../helpers/project.ts';
import { corruptIndex } from '../helpers/rollout.ts';

/**
 * Two databases, one backup folder: each database's `health` judges its own jobs only. A failed
 * backup of one must not page the on-call engineer of the other.
 */
describe('two databases sharing a backup folder', () => {
  let project: TempProject;
  let other: string;
  beforeEach(async () => {
    project = await TempProject.create();
    other = path.join(project.dir, 'other.db');
    for (const db of [project.db, other])
      await exec(db, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1), (2);');
  });
  afterEach(async () => project.cleanup());

  it('health alerts on the database whose backup failed, not on the other', async () => {
    const mine = await project.run(['backup', '--kind', 'daily', '--backup-dir', project.backups]);
    expect(mine.exitCode, mine.all).toBe(0);
    await corruptIndex(other, 'damaged');
    const failed = await project.run(['backup', '--kind', 'daily', '--backup-dir', project.backups], { env: { DATABASE_URL: other } });
    expect(failed.exitCode).not.toBe(0);

    const events = await readBackupEvents(project.backups);
    expect(events.map((event) => [event.database, event.error === null])).toEqual([
      [project.db, true],
      [other, false],
    ]);

    const healthy = await project.run(['health', '--json', '--backup-dir', project.backups]);
    expect(parseReport(healthy.stdout).alerts.filter((alert: { check: string }) => alert.check === 'failed-job')).toEqual([]);
    const alerting = await project.run(['health', '--json', '--backup-dir', project.backups], { env: { DATABASE_URL: other } });
    expect(parseReport(alerting.stdout).alerts.map((alert: { check: string }) => alert.check)).toContain('failed-job');
  });
});
