import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createBackup, nextBackupPath, type VerifiedBackup } from '../../src/backup/create.ts';
import { manifestPathOf } from '../../src/backup/manifest.ts';
import type { Engine } from '../../src/engines/contract.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import type { GuardEvent } from '../../src/events.ts';
import { temporaryPath } from '../../src/fs/atomic.ts';
import { guardTableHistory } from '../../src/history/guard-table.ts';
import { recordedMigrations } from '../../src/history/select.ts';
import { journalPath, readJournal, writeJournal, type JournalEntry, type RunState } from '../../src/rollout/journal.ts';
import { recoverInterruptedRun } from '../../src/rollout/recover.ts';
import { TempProject, dump, exec, query, sha256 } from '../helpers/project.ts';
import { rejectionOf } from '../helpers/errors.ts';

/** A pid no live process has: the run that died. */
const DEAD_PID = 999_999;
const OTHER_PID = 888_888;

let project: TempProject;
let engine: Engine;
let events: GuardEvent[];
beforeEach(async () => {
  project = await TempProject.create();
  engine = sqliteEngine(project.db);
  events = [];
  await exec(
    project.db,
    `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
     INSERT INTO items (name) VALUES ('alpha'), ('beta');
     CREATE TABLE migrate_guard_migrations (name VARCHAR(255) PRIMARY KEY, checksum VARCHAR(255), applied_at VARCHAR(255) NOT NULL, duration_ms INTEGER);
     INSERT INTO migrate_guard_migrations VALUES ('001_items', 'c1', '2026-01-01T00:00:00.000Z', 3);`,
  );
});
afterEach(async () => {
  await project.cleanup();
});

const recover = () =>
  recoverInterruptedRun({ engine, backupDir: project.backups, history: guardTableHistory(engine), emit: (event) => events.push(event) });

function preRollout(options: { compress?: boolean } = {}): Promise<VerifiedBackup> {
  return createBackup({ engine, applied: recordedMigrations(engine), backupDir: project.backups, kind: 'pre-rollout', ...options });
}

function journal(state: RunState, fields: Partial<JournalEntry> = {}): Promise<void> {
  return writeJournal(engine, {
    runId: 'run-1',
    pid: DEAD_PID,
    command: 'migrate',
    state,
    startedAt: '2026-03-01T10:00:00.000Z',
    backupDir: project.backups,
    backup: null,
    pendingBackup: null,
    ...fields,
  });
}

/** What a half-run migration does to the database. */
async function halfMigrate(): Promise<void> {
  await exec(
    project.db,
    `CREATE TABLE half_done (id INTEGER PRIMARY KEY);
     INSERT INTO items (name) VALUES ('should-vanish');
     UPDATE items SET name = 'ALPHA-CHANGED' WHERE name = 'alpha';
     INSERT INTO migrate_guard_migrations VALUES ('002_half', 'c2', '2026-03-01T10:00:01.000Z', 9);`,
  );
}

const preRestoreCopies = async () => (await readdir(project.dir)).filter((name) => name.startsWith('app.db.pre-restore.'));

describe('recoverInterruptedRun', () => {
  it('has nothing to do without a journal', async () => {
    const before = await sha256(project.db);
    expect(await recover()).toBeNull();
    expect(await sha256(project.db)).toBe(before);
    expect(events).toEqual([]);
  });

  describe('a run killed while backing up', () => {
    it("removes that run's half-written backup and temporary files, and nothing else", async () => {
      const earlier = await preRollout();
      const pending = await nextBackupPath(project.backups, engine, 'pre-rollout', new Date('2026-03-01T10:00:00Z'), false);
      const ours = temporaryPath(pending, DEAD_PID);
      const theirs = temporaryPath(pending, OTHER_PID);
      const leftovers = [pending, ours, `${ours}-journal`, `${ours}-wal`, `${ours}-shm`, `${ours}.gz`];
      const kept = [theirs, `${theirs}-wal`, `${theirs}.gz`];
      for (const file of [...leftovers, ...kept]) await writeFile(file, 'half a backup');
      await journal('backing-up', { pendingBackup: pending });
      const before = await sha256(project.db);

      const recovery = await recover();

      expect(recovery).toEqual({ state: 'backing-up', runId: 'run-1', pid: DEAD_PID, restoredFrom: null, preRestoreCopy: null });
      for (const file of leftovers) expect(existsSync(file), file).toBe(false);
      for (const file of kept) expect(existsSync(file), file).toBe(true);
      expect(await sha256(earlier.file)).toBe(earlier.manifest.sha256);
      expect(existsSync(manifestPathOf(earlier.file))).toBe(true);
      expect(await sha256(project.db)).toBe(before);
      expect(await preRestoreCopies()).toEqual([]);
      expect(existsSync(journalPath(engine))).toBe(false);
    });

    it('keeps a pending backup that got its manifest: it is a finished, verified backup', async () => {
      const finished = await preRollout();
      await journal('backing-up', { pendingBackup: finished.file });
      await recover();
      expect(await sha256(finished.file)).toBe(finished.manifest.sha256);
      expect(existsSync(manifestPathOf(finished.file))).toBe(true);
      expect(await readJournal(engine)).toBeNull();
    });

    it('copes with a backup folder that was never created', async () => {
      await journal('backing-up', { pendingBackup: path.join(project.backups, 'pre-rollout', 'app_pre-rollout_20260301_100000.db') });
      expect(await recover()).toMatchObject({ restoredFrom: null, preRestoreCopy: null });
      expect(existsSync(journalPath(engine))).toBe(false);
    });
  });

  describe.each<RunState>(['migrating', 'checking', 'restoring'])('a run killed while %s', (state) => {
    it('restores its backup, keeps a pre-restore copy beside the database, and clears the journal', async () => {
      const backup = await preRollout();
      await journal(state, { backup: backup.file });
      await halfMigrate();
      const halfRun = await dump(project.db);

      const recovery = await recover();

      expect(recovery).toMatchObject({ state, runId: 'run-1', pid: DEAD_PID, restoredFrom: backup.file });
      expect(await dump(project.db)).toBe(await dump(backup.file));
      expect(await query(project.db, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
      expect(await query(project.db, 'SELECT name FROM migrate_guard_migrations')).toEqual([{ name: '001_items' }]);

      const copy = recovery!.preRestoreCopy!;
      expect(path.dirname(copy)).toBe(project.dir);
      expect(path.basename(copy)).toMatch(/^app\.db\.pre-restore\.\d{8}_\d{6}$/);
      expect(await dump(copy)).toBe(halfRun);

      expect(existsSync(journalPath(engine))).toBe(false);
      expect(await sha256(backup.file)).toBe(backup.manifest.sha256);
      expect(events.some((event) => event.type === 'warning')).toBe(true);
    });
  });

  it('restores a compressed backup, leaving no decompressed copy behind', async () => {
    const backup = await preRollout({ compress: true });
    expect(backup.file.endsWith('.db.gz')).toBe(true);
    await journal('migrating', { backup: backup.file });
    await halfMigrate();
    const recovery = await recover();
    expect(recovery?.restoredFrom).toBe(backup.file);
    expect(await query(project.db, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
    expect((await project.backupFiles()).sort()).toEqual(
      [path.relative(project.backups, backup.file), path.relative(project.backups, manifestPathOf(backup.file))].sort(),
    );
  });

  it('refuses with RECOVERY_FAILED (exit 3) when the backup is missing, keeping the journal and the database', async () => {
    const missing = path.join(project.backups, 'pre-rollout', 'app_pre-rollout_20260301_100000.db');
    await journal('migrating', { backup: missing });
    await halfMigrate();
    const before = await sha256(project.db);
    const journalBefore = await readFile(journalPath(engine), 'utf8');

    const error = await rejectionOf(recover());

    expect(error).toMatchObject({ code: 'RECOVERY_FAILED', exitCode: 3, backup: missing });
    expect(error.message).toContain(engine.manualRestore(missing));
    expect(error.message).toContain(journalPath(engine));
    expect(await readFile(journalPath(engine), 'utf8')).toBe(journalBefore);
    expect(await sha256(project.db)).toBe(before);
    expect(await preRestoreCopies()).toEqual([]);
  });

  it('refuses a backup that no longer matches its manifest, before touching the database', async () => {
    const backup = await preRollout();
    const bytes = await readFile(backup.file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10]! + 1) % 256;
    await writeFile(backup.file, bytes);
    await journal('checking', { backup: backup.file });
    await halfMigrate();
    const before = await sha256(project.db);

    await expect(recover()).rejects.toMatchObject({ code: 'RECOVERY_FAILED', exitCode: 3, backup: backup.file });
    expect(await sha256(project.db)).toBe(before);
    expect(await readJournal(engine)).toMatchObject({ state: 'checking', backup: backup.file });
  });
});
