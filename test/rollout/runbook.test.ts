import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import knexFactory, { type Knex } from 'knex';
import { Umzug, memoryStorage } from 'umzug';
import { runMigrate, resolveConfig, GuardError, type GuardEvent } from '../../src/index.ts';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import { writeJournal, journalPath } from '../../src/rollout/journal.ts';
import { TempProject, dump, exec, query } from '../helpers/project.ts';
import { createItems } from '../helpers/migrations.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

const options = () => ({
  database: project.db,
  migrationsDir: project.migrations,
  backupDir: project.backups,
  config: resolveConfig({}),
  createIfMissing: true,
  cwd: project.dir,
});

describe('runMigrate (library)', () => {
  it('returns a typed report and emits progress events', async () => {
    await project.writeMigration('001_items.ts', createItems);
    const events: GuardEvent[] = [];
    const report = await runMigrate({ ...options(), onEvent: (event) => events.push(event) });
    expect(report.exitCode).toBe(0);
    expect(report.migrations).toEqual([expect.objectContaining({ name: '001_items', status: 'applied' })]);
    expect(events.some((event) => event.type === 'migration-done' && event.name === '001_items')).toBe(true);
    expect(events.some((event) => event.type === 'progress' && event.task === 'backup')).toBe(true);
  });

  it("wraps a team's existing Umzug instance and restores when its migration fails", async () => {
    await exec(project.db, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');");
    const before = await dump(project.db);
    const knex: Knex = knexFactory({ client: 'sqlite3', connection: { filename: project.db }, useNullAsDefault: true });
    const umzug = new Umzug<Knex>({
      migrations: [
        { name: 'a', up: async ({ context }) => context('notes').insert({ body: 'from a' }) },
        {
          name: 'b',
          up: async ({ context }) => {
            await context('notes').delete();
            throw new Error('b broke');
          },
        },
      ],
      context: () => knex,
      storage: memoryStorage(),
      logger: undefined,
    });
    try {
      const report = await runMigrate({ ...options(), umzug, knex });
      expect(report.exitCode).toBe(2);
      expect(report.failed).toEqual({ migration: 'b', phase: 'migrate', message: 'b broke' });
      expect(report.restored).toBe(true);
    } finally {
      await knex.destroy();
    }
    expect(await dump(project.db)).toBe(before);
  });

  it('throws a GuardError with a stable code for a refusal', async () => {
    await project.writeMigration('001_items.ts', createItems);
    const error = await runMigrate({ ...options(), createIfMissing: false }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GuardError);
    expect(error).toMatchObject({ code: 'DATABASE_MISSING', exitCode: 1 });
  });

  it('runs a .sql migration with several statements, and a trigger, in one transaction', async () => {
    await project.writeMigration(
      '001_schema.sql',
      `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
       CREATE TABLE audit (msg TEXT);
       CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO audit VALUES ('inserted ' || NEW.v); END;
       INSERT INTO t (v) VALUES ('x');`,
    );
    await project.writeMigration('002_bad.sql', "INSERT INTO t (v) VALUES ('y'); INSERT INTO missing_table VALUES (1);");
    const report = await runMigrate(options());
    expect(report.exitCode).toBe(2);
    expect(report.failed?.migration).toBe('002_bad');
    // Restored to before 001: nothing of either migration remains.
    expect(await query(project.db, "SELECT name FROM sqlite_master WHERE name IN ('t', 'audit')")).toEqual([]);
  });

  it('clears the half-written backup of a run killed during its backup, then migrates', async () => {
    await project.writeMigration('001_items.ts', createItems);
    await exec(project.db, 'CREATE TABLE keep (x); INSERT INTO keep VALUES (1);');
    await mkdir(path.join(project.backups, 'pre-rollout'), { recursive: true });
    const pending = path.join(project.backups, 'pre-rollout', 'app_pre-rollout_20260101_000000.db');
    const leftover = path.join(project.backups, 'pre-rollout', '.app_pre-rollout_20260101_000000.db.tmp-424242');
    await writeFile(leftover, 'half a backup');
    // Renamed into place, but killed before its manifest was written: not a backup.
    await writeFile(pending, 'a backup without manifest');
    await writeJournal(sqliteEngine(project.db), {
      runId: 'dead-run',
      pid: 424242,
      command: 'migrate',
      state: 'backing-up',
      startedAt: '2026-01-01T00:00:00.000Z',
      backupDir: project.backups,
      backup: null,
      pendingBackup: pending,
    });
    const report = await runMigrate(options());
    expect(report.exitCode).toBe(0);
    expect(report.recovered).toMatchObject({ state: 'backing-up', restoredFrom: null });
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(pending)).toBe(false);
    expect(await query(project.db, 'SELECT x FROM keep')).toEqual([{ x: 1 }]);
  });

  it('stops with exit 3 and keeps the journal when the interrupted run cannot be undone', async () => {
    await project.writeMigration('001_items.ts', createItems);
    await exec(project.db, 'CREATE TABLE keep (x);');
    const missing = path.join(project.backups, 'pre-rollout', 'app_pre-rollout_gone.db');
    await mkdir(project.backups, { recursive: true });
    await writeJournal(sqliteEngine(project.db), {
      runId: 'dead-run',
      pid: 424242,
      command: 'migrate',
      state: 'migrating',
      startedAt: '2026-01-01T00:00:00.000Z',
      backupDir: project.backups,
      backup: missing,
    });
    const before = await dump(project.db);
    const error = await runMigrate(options()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'RECOVERY_FAILED', exitCode: 3, backup: missing });
    expect(existsSync(journalPath(sqliteEngine(project.db)))).toBe(true);
    expect(await dump(project.db)).toBe(before);
  });
});
