import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { acquireLock, lockPaths } from '../../../src/engines/sqlite/lock.ts';
import { GuardError } from '../../../src/errors.ts';
import { TempProject } from '../../helpers/project.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

describe('run lock', () => {
  it('lets one holder in and names it to the next', async () => {
    const lock = await acquireLock(project.db, 'migrate');
    const refused = await acquireLock(project.db, 'backup').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GuardError);
    expect((refused as GuardError).code).toBe('LOCK_HELD');
    expect((refused as GuardError).message).toContain(`pid ${process.pid}`);
    await lock.release();
    const again = await acquireLock(project.db, 'migrate');
    expect(again.tookOverFrom).toBeNull();
    await again.release();
  });

  it('takes over a lock whose holder died, and says whose it was', async () => {
    // A holder file without a live lock is what a SIGKILLed run leaves behind.
    const dead = { pid: 999_999, host: 'old-host', command: 'migrate', since: '2026-01-01T00:00:00.000Z' };
    await writeFile(lockPaths(project.db).holder, JSON.stringify(dead));
    const lock = await acquireLock(project.db, 'migrate');
    expect(lock.tookOverFrom).toEqual(dead);
    await lock.release();
  });
});
