import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createBackup } from '../../src/backup/create.ts';
import { manifestPathOf } from '../../src/backup/manifest.ts';
import { listBackups } from '../../src/backup/store.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import { recordedMigrations } from '../../src/history/select.ts';
import { TempProject, exec } from '../helpers/project.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await exec(project.db, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items (name) VALUES ('alpha');`);
});
afterEach(async () => {
  await project.cleanup();
});

describe('listBackups: backups are found through their manifests', () => {
  it('lists a backup whatever its file is called (a new engine names its own), and what has no usable manifest, never a temporary file', async () => {
    const engine = sqliteEngine(project.db);
    const { file } = await createBackup({ engine, applied: recordedMigrations(engine), backupDir: project.backups, kind: 'manual' });
    // As another engine would name its backup: neither `.db` nor `.dump`.
    const renamed = file.replace(/\.db$/, '.sqlbackup');
    await rename(file, renamed);
    await rename(manifestPathOf(file), manifestPathOf(renamed));
    const folder = path.dirname(file);
    const stray = path.join(folder, 'app_manual_20260101_000000.db');
    await writeFile(stray, 'not proven by anything');
    await writeFile(path.join(folder, '.app_manual_20260101_000001.db.tmp-1234'), 'being written');

    const listed = await listBackups(project.backups);
    expect(listed.map((entry) => path.basename(entry.path)).sort()).toEqual([path.basename(renamed), path.basename(stray)].sort());
    expect(listed.find((entry) => entry.path === renamed)).toMatchObject({ verified: true, problem: null, kind: 'manual' });
    expect(listed.find((entry) => entry.path === stray)).toMatchObject({
      verified: false,
      manifest: null,
      problem: expect.stringContaining('no readable manifest'),
    });
  });
});
