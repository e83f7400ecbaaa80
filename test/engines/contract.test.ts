import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AppliedReader, Engine, Reader } from '../../src/engines/contract.ts';
import { SqliteConnection, withConnection } from '../../src/engines/sqlite/connection.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import { postgresEngine } from '../../src/engines/postgres/engine.ts';
import { withPg } from '../../src/engines/postgres/connection.ts';
import { withDatabase } from '../../src/engines/postgres/url.ts';
import { mysqlEngine } from '../../src/engines/mysql/engine.ts';
import { GuardError, type GuardErrorCode } from '../../src/errors.ts';
import { guardTableHistory } from '../../src/history/guard-table.ts';
import { recordedMigrations } from '../../src/history/select.ts';
import { exec, sha256 } from '../helpers/project.ts';
import { rejectionOf } from '../helpers/errors.ts';

/**
 * The engine contract (src/engines/contract.ts) as a suite every engine must pass. One row per
 * engine: a factory that, given an empty temporary folder, returns the engine on a database that
 * does not exist yet and the few engine-specific things the suite cannot say in the contract's
 * words (how to write SQL as the application would, what a foreign file is, what "untouched" is).
 * PostgreSQL becomes one more `describeEngine` line.
 */
export interface EngineFixture {
  /** The engine on a database that does not exist yet. */
  readonly engine: Engine;
  /** The same engine on a second database that does not exist yet. */
  other(): Engine;
  /** Runs SQL on the live database and commits, as the application would (foreign keys enforced). */
  seed(sql: string): Promise<void>;
  /** Like `seed` with foreign-key enforcement off, to leave an orphan row behind. */
  seedUnchecked(sql: string): Promise<void>;
  /** Puts something that is not one of this engine's databases where the database would be. */
  writeForeign(): Promise<void>;
  /** The code `probe` refuses a foreign database with. */
  readonly foreignCode: GuardErrorCode;
  /** Changes whenever any byte of the live database (its side files included) changes. */
  fingerprint(): Promise<string>;
  /** An engine on a damaged database holding the table `table`. */
  damaged(): Promise<{ readonly engine: Engine; readonly table: string }>;
  /** Closes whatever the fixture holds open (an application's connection). */
  close(): Promise<void>;
}

export type MakeEngine = (dir: string) => Promise<EngineFixture>;

/**
 * What an engine's fixture can stage: a foreign file where the database would be (a server has
 * no such place), a damaged database (a server's data files are the server's).
 */
export interface Staging {
  readonly foreign: boolean;
  readonly damage: boolean;
  /** Whether DDL rolls back with a transaction (not on MySQL/MariaDB: it commits implicitly). */
  readonly transactionalDdl?: boolean;
}

const SQLITE_STAGING: Staging = { foreign: true, damage: true };
describeEngine('sqlite', (dir) => sqliteFixture(dir, { wal: false, heldOpen: false }), SQLITE_STAGING);
describeEngine('sqlite in WAL mode, the application closed', (dir) => sqliteFixture(dir, { wal: true, heldOpen: false }), SQLITE_STAGING);
describeEngine(
  'sqlite in WAL mode, held open by the application',
  (dir) => sqliteFixture(dir, { wal: true, heldOpen: true }),
  SQLITE_STAGING,
);
describeEngine('postgres', (dir) => postgresFixture(dir), { foreign: false, damage: false });
describeEngine('mysql (MariaDB)', (dir) => mysqlFixture(dir), { foreign: false, damage: false, transactionalDdl: false });

/** Standard SQL every engine in view runs: two tables, a foreign key, a default. */
const SCHEMA = `
  CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT DEFAULT 'none');
  CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id));
  INSERT INTO parent (id, name) VALUES (1, 'one'), (2, 'two');
  INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 2);
`;

const noHistory: AppliedReader = async () => [];

/** A logical dump through the contract alone: the schema hash and every table's rows, in order. */
async function contentOf(engine: Engine, reader: Reader): Promise<{ schemaHash: string; rows: Record<string, unknown[]> }> {
  const rows: Record<string, unknown[]> = {};
  for (const table of await engine.listTables(reader)) {
    const columns = (await engine.columns(reader, table)).map((column) => engine.quote(column)).join(', ');
    rows[table] = await reader.all(`SELECT ${columns} FROM ${engine.quote(table)} ORDER BY ${columns}`);
  }
  return { schemaHash: (await engine.facts(reader, noHistory)).schemaHash, rows };
}

export function describeEngine(name: string, make: MakeEngine, staging: Staging): void {
  describe(`engine contract: ${name}`, () => {
    let dir: string;
    let fixture: EngineFixture;
    let engine: Engine;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-engine-'));
      fixture = await make(dir);
      engine = fixture.engine;
    });
    afterEach(async () => {
      await fixture.close();
      await rm(dir, { recursive: true, force: true });
    });

    const ready = async () => {
      await engine.create();
      await fixture.seed(SCHEMA);
    };
    const live = () => engine.read('readonly', (reader) => contentOf(engine, reader));
    const factsOf = (on: Engine, applied: AppliedReader = noHistory) => on.read('readonly', (reader) => on.facts(reader, applied));
    const rowCount = async (table: string) => (await factsOf(engine)).tables[table];
    const at = (file: string) => path.join(dir, file);
    const snapshotOf = async (file = 'snapshot') => {
      await engine.snapshot(at(file));
      return at(file);
    };

    describe('commits of other sessions', () => {
      it('committedSince: false while nobody commits, true once another session has', async () => {
        await ready();
        await engine.read('readwrite', async (reader) => {
          const mark = await engine.commitMark(reader);
          await reader.all('SELECT COUNT(*) FROM parent');
          expect(await engine.committedSince(reader, mark)).toBe(false);
          await fixture.seed("INSERT INTO parent (id, name) VALUES (900, 'nine');");
          expect(await engine.committedSince(reader, mark)).toBe(true);
        });
      });
    });

    describe('probe, create, size', () => {
      it('says missing, then ready once created', async () => {
        expect(await engine.probe()).toBe('missing');
        await engine.create();
        expect(await engine.probe()).toBe('ready');
        expect(await engine.read('readonly', (reader) => engine.listTables(reader))).toEqual([]);
      });

      it.skipIf(!staging.foreign)("refuses a foreign file with the engine's code and leaves it untouched", async () => {
        await fixture.writeForeign();
        const before = await fixture.fingerprint();
        const error = await rejectionOf(engine.probe());
        expect(error.code).toBe(fixture.foreignCode);
        expect(error.exitCode).toBe(1);
        expect(await fixture.fingerprint()).toBe(before);
      });

      it('measures the database, and the measure grows with the data', async () => {
        await ready();
        const before = await engine.size();
        expect(before).toBeGreaterThan(0);
        // Random text: PostgreSQL compresses a long run of one letter to almost nothing.
        const noise = () =>
          Array.from({ length: 5000 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)]).join('');
        const values = Array.from({ length: 200 }, (_, i) => `(${100 + i}, '${noise()}')`).join(', ');
        await fixture.seed(`INSERT INTO parent (id, name) VALUES ${values};`);
        expect(await engine.size()).toBeGreaterThan(before + 500_000);
      });
    });

    describe('lock', () => {
      it('refuses a second lock with LOCK_HELD naming the holder; release lets the next in', async () => {
        await ready();
        const first = await engine.lock('migrate');
        expect(first.tookOverFrom).toBeNull();
        const refused = await rejectionOf(engine.lock('backup'));
        expect(refused.code).toBe('LOCK_HELD');
        expect(refused.message).toContain(String(process.pid));
        expect(refused.message).toContain('migrate');
        await first.release();
        const next = await engine.lock('backup');
        expect(next.tookOverFrom).toBeNull();
        await next.release();
      });

      it('locks each database on its own', async () => {
        await ready();
        const other = fixture.other();
        await other.create();
        const mine = await engine.lock('migrate');
        const theirs = await other.lock('migrate');
        await theirs.release();
        await mine.release();
      });
    });

    describe('snapshots', () => {
      it('writes a snapshot the engine proves: integrity ok, the live facts, its objects', async () => {
        await ready();
        const handle = await engine.openKnex();
        try {
          await guardTableHistory(engine).recorder().record(handle.knex, { name: '001_init', checksum: 'c1', durationMs: 4 });
        } finally {
          await handle.destroy();
        }
        const applied = recordedMigrations(engine);
        const progress: [number, number][] = [];
        await engine.snapshot(at('snapshot'), (done, total) => progress.push([done, total]));
        const proof = await engine.proveSnapshot(at('snapshot'), applied);
        expect(proof.integrity).toEqual({ ok: true, detail: expect.stringMatching(/^ok\b/) });
        expect(proof.unreadable).toBeNull();
        expect(proof.facts).toEqual(await factsOf(engine, applied));
        expect(proof.facts?.appliedMigrations).toEqual(['001_init']);
        expect(proof.objects).toEqual(expect.arrayContaining(['table parent', 'table child']));
        const [done, total] = progress.at(-1)!;
        expect(done).toBe(total);
        expect(total).toBeGreaterThan(0);
      });

      it('holds committed data only, even while the application is mid-transaction', async () => {
        await ready();
        const handle = await engine.openKnex();
        try {
          await handle.knex.transaction(async (trx) => {
            await trx('parent').insert({ id: 3, name: 'uncommitted' });
            await engine.snapshot(at('snapshot'));
          });
        } finally {
          await handle.destroy();
        }
        expect((await engine.readSnapshot(at('snapshot'), (reader) => engine.facts(reader, noHistory))).tables).toEqual({
          parent: 2,
          child: 2,
        });
        expect(await rowCount('parent')).toBe(3);
      });

      it('is self-contained: the snapshot file alone, moved elsewhere, reads the same', async () => {
        await ready();
        const expected = await live();
        const snapshot = await snapshotOf();
        await mkdir(at('elsewhere'));
        await copyFile(snapshot, at('elsewhere/copy'));
        expect(await engine.readSnapshot(at('elsewhere/copy'), (reader) => contentOf(engine, reader))).toEqual(expected);
      });

      it('knows its snapshots from other files by their first bytes', async () => {
        await ready();
        const snapshot = await snapshotOf();
        expect(await engine.isSnapshot(snapshot)).toBe(true);
        await writeFile(at('notes.txt'), 'not a snapshot at all, just some text that is long enough');
        expect(await engine.isSnapshot(at('notes.txt'))).toBe(false);
        await writeFile(at('empty'), '');
        expect(await engine.isSnapshot(at('empty'))).toBe(false);
      });

      it('reads a snapshot, not the live database', async () => {
        await ready();
        const expected = await live();
        const snapshot = await snapshotOf();
        await fixture.seed("DELETE FROM child; INSERT INTO parent (id, name) VALUES (3, 'later');");
        expect(await engine.readSnapshot(snapshot, (reader) => contentOf(engine, reader))).toEqual(expected);
        expect(await engine.readSnapshot(snapshot, (reader) => reader.all('SELECT name FROM parent WHERE id = ?', [2]))).toEqual([
          { name: 'two' },
        ]);
      });

      it('discards a snapshot and whatever the engine left beside it', async () => {
        await ready();
        const snapshot = await snapshotOf();
        await engine.proveSnapshot(snapshot, noHistory);
        await engine.discardSnapshot(snapshot);
        expect((await readdir(dir)).filter((file) => file.startsWith('snapshot'))).toEqual([]);
        await engine.discardSnapshot(snapshot); // nothing left to remove is fine
      });
    });

    describe('restore', () => {
      it("puts the snapshot's content back, and an open application connection reads it", async () => {
        await ready();
        const expected = await live();
        const snapshot = await snapshotOf();
        const app = await engine.openKnex();
        try {
          await app.knex('child').delete();
          await app.knex('parent').where({ id: 1 }).update({ name: 'changed' });
          await app.knex.raw('CREATE TABLE later (id INTEGER)');
          expect(await live()).not.toEqual(expected);

          const progress: number[] = [];
          await engine.restore(snapshot, { onProgress: (done) => progress.push(done), prove: async () => undefined });

          expect(await live()).toEqual(expected);
          expect(await app.knex('parent').orderBy('id').pluck('name')).toEqual(['one', 'two']);
          expect(progress.length).toBeGreaterThan(0);
        } finally {
          await app.destroy();
        }
        expect(await engine.read('readonly', (reader) => engine.integrity(reader, 'full'))).toEqual({
          ok: true,
          detail: expect.stringMatching(/^ok\b/),
        });
      });
    });

    describe('rehearsal copy and untouched reads', () => {
      it('copies the live database without writing a byte of it', async () => {
        await ready();
        await fixture.seed("INSERT INTO parent (id, name) VALUES (3, 'three');");
        const expected = await live();
        const before = await fixture.fingerprint();

        const rehearsal = await engine.rehearsal(dir);
        try {
          const untouched = await engine.read('untouched', (reader) => contentOf(engine, reader));
          expect(await fixture.fingerprint()).toBe(before);
          expect(untouched).toEqual(expected);
          expect(await rehearsal.engine.read('readonly', (reader) => contentOf(rehearsal.engine, reader))).toEqual(expected);
        } finally {
          await rehearsal.drop();
        }
      });
    });

    describe('checks', () => {
      it('calls a healthy database ok at both levels', async () => {
        await ready();
        for (const level of ['full', 'quick'] as const) {
          expect(await engine.read('readonly', (reader) => engine.integrity(reader, level))).toEqual({
            ok: true,
            detail: expect.stringMatching(/^ok\b/),
          });
        }
      });

      it('finds an orphan row, and nothing on a clean database', async () => {
        await ready();
        expect(await engine.read('readonly', (reader) => engine.foreignKeyViolations(reader))).toEqual([]);
        await fixture.seedUnchecked('INSERT INTO child (id, parent_id) VALUES (12, 99);');
        const violations = await engine.read('readonly', (reader) => engine.foreignKeyViolations(reader));
        expect(violations).toEqual([expect.objectContaining({ table: 'child', parent: 'parent' })]);
      });

      it.skipIf(!staging.damage)('recognises a damaged database: integrity not ok, reads fail with an error damage() names', async () => {
        const damaged = await fixture.damaged();
        const read = await damaged.engine
          .read('readonly', (reader) => reader.all(`SELECT * FROM ${damaged.engine.quote(damaged.table)}`))
          .catch((error: unknown) => error);
        expect(read).toBeInstanceOf(Error);
        expect(damaged.engine.damage(read)).toEqual(expect.any(String));

        const verdict = await damaged.engine
          .read('readonly', (reader) => damaged.engine.integrity(reader, 'full'))
          .catch((error: unknown) => error);
        if (verdict instanceof Error) expect(damaged.engine.damage(verdict)).toEqual(expect.any(String));
        else expect(verdict).toMatchObject({ ok: false, detail: expect.not.stringMatching(/^ok$/) });
      });

      it('does not call other errors damage', async () => {
        await ready();
        const syntax = await engine.read('readonly', (reader) => reader.all('SELEC nonsense')).catch((error: unknown) => error);
        expect(syntax).toBeInstanceOf(Error);
        expect(engine.damage(syntax)).toBeNull();
        const missingTable = await engine
          .read('readonly', (reader) => reader.all('SELECT * FROM no_such_table'))
          .catch((error: unknown) => error);
        expect(engine.damage(missingTable)).toBeNull();
        expect(engine.damage(new Error('disk image is malformed'))).toBeNull();
        expect(engine.damage(new GuardError('NOT_SQLITE', 'x'))).toBeNull();
      });
    });

    describe('schema and facts', () => {
      it('lists tables by name without its own, and columns in order', async () => {
        await ready();
        await engine.read('readonly', async (reader) => {
          expect(await engine.listTables(reader)).toEqual(['child', 'parent']);
          expect(await engine.columns(reader, 'parent')).toEqual(['id', 'name', 'note']);
          expect(await engine.columns(reader, 'child')).toEqual(['id', 'parent_id']);
        });
      });

      it('gives facts: engine, version, row count per table, applied migrations', async () => {
        await ready();
        const applied: AppliedReader = async (reader) =>
          (await reader.all<{ name: string }>('SELECT name FROM parent ORDER BY id')).map((row) => row.name);
        const facts = await factsOf(engine, applied);
        expect(facts).toMatchObject({ engine: engine.kind, tables: { parent: 2, child: 2 }, appliedMigrations: ['one', 'two'] });
        expect(Object.keys(facts.tables).sort()).toEqual(['child', 'parent']);
        expect(facts.engineVersion).toMatch(/\d/);
        expect(facts.schemaHash).toMatch(/\S/);
      });

      it('changes the schema hash with the schema, not with the data', async () => {
        await ready();
        const first = await factsOf(engine);
        await fixture.seed("INSERT INTO parent (id, name) VALUES (3, 'three'); UPDATE child SET parent_id = 3 WHERE id = 10;");
        const afterData = await factsOf(engine);
        expect(afterData.schemaHash).toBe(first.schemaHash);
        expect(afterData.tables.parent).toBe(3);
        await fixture.seed('ALTER TABLE parent ADD COLUMN extra TEXT;');
        const afterColumn = await factsOf(engine);
        expect(afterColumn.schemaHash).not.toBe(first.schemaHash);
        await fixture.seed('CREATE INDEX parent_name ON parent (name);');
        expect((await factsOf(engine)).schemaHash).not.toBe(afterColumn.schemaHash);
      });

      it('inspects tables: columns with not-null, default and type, row counts', async () => {
        await ready();
        const shape = await engine.read('readonly', (reader) => engine.inspect(reader));
        expect([...shape.keys()].sort()).toEqual(['child', 'parent']);
        expect(shape.get('parent')).toEqual({
          rows: 2,
          columns: [
            expect.objectContaining({ name: 'id', hasDefault: false }),
            // The type as the engine names it (a dry run's column-type-change compares them).
            { name: 'name', notNull: true, hasDefault: false, type: expect.stringMatching(/^(text|TEXT)$/) },
            { name: 'note', notNull: false, hasDefault: true, type: expect.stringMatching(/\S/) },
          ],
        });
        expect(shape.get('child')?.rows).toBe(2);
      });

      it('quotes a hostile name so it stays a name', async () => {
        await ready();
        const table = 'x"; DROP TABLE parent; --';
        const column = 'we"ird\' col';
        await fixture.seed(
          `CREATE TABLE ${engine.quote(table)} (${engine.quote(column)} TEXT); INSERT INTO ${engine.quote(table)} VALUES ('v');`,
        );
        await engine.read('readonly', async (reader) => {
          expect(await engine.listTables(reader)).toEqual(['child', 'parent', table].sort());
          expect(await engine.columns(reader, table)).toEqual([column]);
          expect(await reader.all(`SELECT ${engine.quote(column)} AS v FROM ${engine.quote(table)}`)).toEqual([{ v: 'v' }]);
          expect((await engine.facts(reader, noHistory)).tables).toEqual({ parent: 2, child: 2, [table]: 1 });
        });
      });
    });

    describe('one table from a snapshot', () => {
      it('exports a table as reviewable SQL that replays to the same rows', async () => {
        await ready();
        await fixture.seed("INSERT INTO parent (id, name, note) VALUES (3, 'O''Brien''); DROP TABLE child; --', NULL);");
        const snapshot = await snapshotOf();
        const expected = await engine.readSnapshot(snapshot, (reader) => contentOf(engine, reader));

        const rows = await engine.exportTable(
          snapshot,
          'parent',
          at('parent.sql'),
          ['from the snapshot', 'table parent'],
          await engine.fileMode(),
        );

        expect(rows).toBe(3);
        expect((await stat(at('parent.sql'))).mode & 0o777).toBe(await engine.fileMode());
        const sql = await readFile(at('parent.sql'), 'utf8');
        expect(sql.startsWith('-- from the snapshot\n-- table parent\n')).toBe(true);
        expect((await readdir(dir)).filter((file) => file.includes('.tmp-'))).toEqual([]);
        await fixture.seedUnchecked(`DELETE FROM parent;\n${sql}`);
        expect(await live()).toEqual(expected);
      });

      it("replaces a table's rows with the snapshot's and commits", async () => {
        await ready();
        const snapshot = await snapshotOf();
        const expected = await live();
        await fixture.seed("UPDATE parent SET name = 'renamed' WHERE id = 1; UPDATE parent SET note = 'edited';");

        const result = await engine.replaceTable(snapshot, 'parent', false);

        expect(result).toEqual({ rows: 2, violations: [], committed: true });
        expect(await live()).toEqual(expected);
      });

      it('rolls the replacement back when it breaks a foreign key, unless forced', async () => {
        await ready();
        const snapshot = await snapshotOf();
        await fixture.seed("INSERT INTO parent (id, name) VALUES (3, 'three'); INSERT INTO child (id, parent_id) VALUES (12, 3);");
        const before = await live();

        const refused = await engine.replaceTable(snapshot, 'parent', false);
        expect(refused.committed).toBe(false);
        expect(refused.rows).toBe(0);
        expect(refused.violations).toEqual([expect.objectContaining({ table: 'child', parent: 'parent' })]);
        expect(await live()).toEqual(before);

        const forced = await engine.replaceTable(snapshot, 'parent', true);
        expect(forced).toMatchObject({
          committed: true,
          rows: 2,
          violations: [expect.objectContaining({ table: 'child', parent: 'parent' })],
        });
        expect(await rowCount('parent')).toBe(2);
      });
    });

    describe('knex', () => {
      it.runIf(staging.transactionalDdl !== false)(
        'gives a reader over a transaction that sees its uncommitted work; DDL rolls back with it',
        async () => {
          await ready();
          expect(engine.transactionalDdl).toBe(true);
          const handle = await engine.openKnex();
          try {
            const rolledBack = handle.knex.transaction(async (trx) => {
              await trx.raw('CREATE TABLE scratch (v INTEGER)');
              await trx('parent').insert({ id: 3, name: 'three' });
              const reader = engine.reader(trx);
              expect(await engine.listTables(reader)).toEqual(['child', 'parent', 'scratch']);
              expect(await reader.all('SELECT name FROM parent WHERE id = ?', [3])).toEqual([{ name: 'three' }]);
              expect((await engine.facts(reader, noHistory)).tables).toEqual({ parent: 3, child: 2, scratch: 0 });
              throw new Error('roll it back');
            });
            await expect(rolledBack).rejects.toThrow('roll it back');
            expect(await engine.reader(handle.knex).all('SELECT name FROM parent ORDER BY id')).toEqual([{ name: 'one' }, { name: 'two' }]);
          } finally {
            await handle.destroy();
          }
          expect(await engine.read('readonly', (reader) => engine.listTables(reader))).toEqual(['child', 'parent']);
        },
      );

      it(".sql statements: split by the engine's grammar, run as written, refused with the database's own message and code", async () => {
        await ready();
        const sql =
          "-- it's; a comment\nCREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ('what?; fine');\n;\nINSERT INTO nowhere VALUES (1)";
        const statements = engine.splitSql(sql);
        expect(statements.map((statement) => statement.text)).toEqual([
          "-- it's; a comment\nCREATE TABLE notes (body TEXT)",
          "INSERT INTO notes VALUES ('what?; fine')",
          'INSERT INTO nowhere VALUES (1)',
        ]);
        expect(statements.map((statement) => statement.offset)).toEqual([
          0,
          sql.indexOf('INSERT INTO notes'),
          sql.indexOf('INSERT INTO nowhere'),
        ]);
        const handle = await engine.openKnex();
        try {
          await handle.knex.transaction(async (trx) => {
            await engine.runSqlStatement(trx, statements[0]!.text);
            await engine.runSqlStatement(trx, statements[1]!.text);
            // knex's `?` placeholders do not apply to a file's statement.
            expect(await engine.reader(trx).all('SELECT body FROM notes')).toEqual([{ body: 'what?; fine' }]);
          });
          const refused = await engine.runSqlStatement(handle.knex, statements[2]!.text).then(
            () => null,
            (error: unknown) => error,
          );
          const failure = engine.statementFailure(refused, statements[2]!.text);
          expect(failure?.message).toMatch(
            /^(no such table: nowhere|relation "nowhere" does not exist|Table '\w+\.nowhere' doesn't exist)$/,
          );
          expect(failure?.code).toMatch(/^(SQLITE_ERROR|42P01|ER_NO_SUCH_TABLE)$/);
          expect(failure?.position === null || failure?.position === statements[2]!.text.indexOf('nowhere') + 1).toBe(true);
          expect(engine.statementFailure(new Error('not the database'), '')).toBeNull();
        } finally {
          await handle.destroy();
        }
      });

      it('makes the next write fail once interrupted', async () => {
        await ready();
        const handle = await engine.openKnex();
        try {
          expect(await handle.knex('parent').count({ n: '*' })).toHaveLength(1);
          handle.interrupt();
          await expect(handle.knex('parent').insert({ id: 3, name: 'after the signal' })).rejects.toThrow();
        } finally {
          await handle.destroy();
        }
        expect(await rowCount('parent')).toBe(2);
      });
    });

    describe('names', () => {
      it('puts absolute sidecar paths beside the database, one per suffix', async () => {
        const journal = engine.sidecar('migrate-guard.journal.json');
        const lock = engine.sidecar('migrate-guard.lock');
        expect(path.isAbsolute(journal)).toBe(true);
        expect(path.isAbsolute(lock)).toBe(true);
        expect(journal).not.toBe(lock);
        expect(fixture.other().sidecar('migrate-guard.journal.json')).not.toBe(journal);
      });

      it('names the backup in its manual restore command', () => {
        expect(engine.manualRestore('/srv/backups/pre-rollout/app.db')).toContain('/srv/backups/pre-rollout/app.db');
        expect(engine.snapshotLabel).toMatch(/\S/);
        expect(engine.name).toMatch(/\S/);
      });
    });
  });
}

/**
 * SQLite: a database file in the folder. In WAL mode with the application closed, the file says
 * WAL and has no -wal/-shm beside it (a careless reader would create them); held open, the
 * "application" keeps its connection, -wal and -shm, for the whole test.
 */
async function sqliteFixture(dir: string, options: { readonly wal: boolean; readonly heldOpen: boolean }): Promise<EngineFixture> {
  const file = path.join(dir, 'live.db');
  let app: SqliteConnection | null = null;
  const run = async (sql: string, enforce: boolean) => {
    const statements = `${options.wal ? 'PRAGMA journal_mode = WAL;\n' : ''}PRAGMA foreign_keys = ${enforce ? 'ON' : 'OFF'};\n${sql}`;
    if (!options.heldOpen) return withConnection(SqliteConnection.open(file, 'create'), (connection) => connection.exec(statements));
    app ??= await SqliteConnection.open(file, 'create');
    return app.exec(statements);
  };
  return {
    engine: sqliteEngine(file),
    other: () => sqliteEngine(path.join(dir, 'other.db')),
    seed: (sql) => run(sql, true),
    seedUnchecked: (sql) => run(sql, false),
    writeForeign: () => writeFile(file, 'id,name\n1,a spreadsheet export, not a database\n'),
    foreignCode: 'NOT_SQLITE',
    async fingerprint() {
      const parts = [];
      for (const suffix of ['', '-wal', '-shm', '-journal'])
        parts.push(`${suffix}:${existsSync(file + suffix) ? await sha256(file + suffix) : '-'}`);
      return parts.join(' ');
    },
    async damaged() {
      const damaged = path.join(dir, 'damaged.db');
      await exec(
        damaged,
        "CREATE TABLE t (v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t SELECT printf('row %d', i) FROM n;",
      );
      // Keep the header and schema pages; overwrite every page after them.
      const handle = await open(damaged, 'r+');
      try {
        const { size } = await handle.stat();
        await handle.write(Buffer.alloc(size - 8192, 0xa5), 0, size - 8192, 8192);
      } finally {
        await handle.close();
      }
      return { engine: sqliteEngine(damaged), table: 't' };
    },
    async close() {
      await app?.close();
    },
  };
}

/**
 * A database of its own on the real PostgreSQL server (127.0.0.1:5432, trust authentication),
 * created by the engine and dropped after the test. `PGURL` points elsewhere.
 */
async function postgresFixture(dir: string): Promise<EngineFixture> {
  const server = process.env.MIGRATE_GUARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `mg_contract_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const url = withDatabase(server, name);
  const otherUrl = withDatabase(server, `${name}_other`);
  const run = (sql: string, enforce: boolean) =>
    withPg(url, (connection) => connection.exec(`${enforce ? '' : 'SET session_replication_role = replica;\n'}${sql}`));
  return {
    engine: postgresEngine(url, { stateDir: dir }),
    other: () => postgresEngine(otherUrl, { stateDir: dir }),
    seed: (sql) => run(sql, true),
    seedUnchecked: (sql) => run(sql, false),
    writeForeign: async () => undefined,
    foreignCode: 'USAGE',
    async fingerprint() {
      const engine = postgresEngine(url, { stateDir: dir });
      return JSON.stringify(await engine.read('readonly', (reader) => contentOf(engine, reader)));
    },
    damaged: () => Promise.reject(new Error('a PostgreSQL database is not damaged from outside the server')),
    async close() {
      for (const database of [name, `${name}_other`]) {
        await withPg(server, (connection) => connection.exec(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
      }
    },
  };
}

/**
 * A database of its own on the real MariaDB server (127.0.0.1:3306, root without a password),
 * created by the engine and dropped after the test. `MIGRATE_GUARD_TEST_MYSQL` points elsewhere.
 */
async function mysqlFixture(dir: string): Promise<EngineFixture> {
  const server = process.env.MIGRATE_GUARD_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';
  const name = `mg_mysql_contract_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const { createConnection } = await import('mysql2/promise');
  const connect = (database: string | null) => {
    const url = new URL(server);
    return createConnection({
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username || 'root'),
      ...(database === null ? {} : { database }),
      multipleStatements: true,
    });
  };
  const run = async (sql: string, enforce: boolean) => {
    const connection = await connect(name);
    try {
      await connection.query(`${enforce ? '' : 'SET FOREIGN_KEY_CHECKS = 0;\n'}${sql}`);
    } finally {
      await connection.end();
    }
  };
  return {
    engine: mysqlEngine(`${server}/${name}`, { stateDir: dir }),
    other: () => mysqlEngine(`${server}/${name}_other`, { stateDir: dir }),
    seed: (sql) => run(sql, true),
    seedUnchecked: (sql) => run(sql, false),
    writeForeign: async () => undefined,
    foreignCode: 'USAGE',
    async fingerprint() {
      const engine = mysqlEngine(`${server}/${name}`, { stateDir: dir });
      return JSON.stringify(await engine.read('readonly', (reader) => contentOf(engine, reader)));
    },
    damaged: () => Promise.reject(new Error('a MariaDB database is not damaged from outside the server')),
    async close() {
      const connection = await connect(null);
      try {
        for (const database of [name, `${name}_other`]) await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await connection.end();
      }
    },
  };
}
