import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Reader } from '../../../src/engines/contract.ts';
import { SqliteConnection } from '../../../src/engines/sqlite/connection.ts';
import { openKnex } from '../../../src/engines/sqlite/knex.ts';
import { WriteSet, type StatementEffect } from '../../../src/engines/write-set.ts';
import { classifyStatement, sqliteStatements } from '../../../src/engines/sqlite/write-set.ts';
import { TempProject, exec } from '../../helpers/project.ts';
import { createItems } from '../../helpers/migrations.ts';
import { migrateProject, provenTables, traceKnex } from '../../helpers/sqlite-trace.ts';

const READ: StatementEffect = { kind: 'read' };
const UNKNOWN: StatementEffect = { kind: 'unknown' };
const write = (table: string | null, rowsChanged: string | null = null): StatementEffect => ({ kind: 'write', table, rowsChanged });

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

describe('classifyStatement: what the statements knex runs on SQLite write', () => {
  /** The statements of `work`, after items (id, name, extra) with two rows and tags → items exist. */
  async function knexStatements(work: Parameters<typeof traceKnex>[1]): Promise<string[]> {
    const db = path.join(project.dir, 'knex.db');
    await exec(
      db,
      `CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) NOT NULL, extra TEXT);
       CREATE TABLE tags (id INTEGER PRIMARY KEY, itemId INTEGER REFERENCES items (id));
       INSERT INTO items (name) VALUES ('alpha'), ('beta');`,
    );
    return traceKnex(db, work);
  }
  const effects = (statements: readonly string[]) => statements.map((sql) => [sql, classifyStatement(sql)]);

  it('createTable: one write to the new table', async () => {
    const statements = await knexStatements((knex) =>
      knex.schema.createTable('notes', (t) => {
        t.increments('id');
        t.integer('itemId').references('id').inTable('items');
      }),
    );
    expect(effects(statements)).toEqual([[expect.stringMatching(/^create table `notes` \(/), write('notes')]]);
  });

  it('alterTable add column: a write to the table, no existing row changed', async () => {
    const statements = await knexStatements((knex) => knex.schema.alterTable('items', (t) => t.text('notes')));
    expect(effects(statements)).toEqual([['alter table `items` add column `notes` text', write('items')]]);
  });

  it("alterTable dropColumn: knex's table rebuild writes the temp table, drops items, and renames the copy to items", async () => {
    const statements = await knexStatements((knex) => knex.schema.alterTable('items', (t) => t.dropColumn('extra')));
    const temp = /CREATE TABLE `(_knex_temp_alter\d+)`/.exec(statements.join('\n'))?.[1];
    expect(temp).toBeDefined();
    expect(effects(statements)).toEqual([
      ['PRAGMA table_info(`items`)', READ],
      ['BEGIN IMMEDIATE;', READ],
      [expect.stringMatching(/^SELECT type, sql FROM sqlite_master WHERE/), READ],
      ['COMMIT;', READ],
      ['PRAGMA foreign_keys', READ],
      ['BEGIN IMMEDIATE;', READ],
      [expect.stringMatching(new RegExp(`^CREATE TABLE \`${temp}\` \\(`)), write(temp!)],
      [`INSERT INTO "${temp}" SELECT "id", "name" FROM "items";`, write(temp!)],
      ['DROP TABLE "items"', write(null, 'items')],
      [`ALTER TABLE "${temp}" RENAME TO "items"`, write('items', 'items')],
      ['COMMIT;', READ],
    ]);
    const written = new WriteSet(sqliteStatements);
    for (const sql of statements) written.add(sql);
    expect(written.result()).toEqual({ tables: [temp, 'items'], rowsChanged: ['items'], unknown: null });
  });

  it('insert, update, upsert, delete, index, and transactions with savepoints', async () => {
    const statements = await knexStatements(async (knex) => {
      await knex('items').insert([{ name: 'gamma' }, { name: "O'Brien" }]);
      await knex('items').where({ id: 1 }).update({ name: 'ALPHA' });
      await knex('items').insert({ id: 2, name: 'BETA' }).onConflict('id').merge();
      await knex('items').insert({ id: 2, name: 'ignored' }).onConflict('id').ignore();
      await knex('tags').where({ itemId: 1 }).delete();
      await knex.schema.alterTable('items', (t) => t.index(['name']));
      await knex.transaction(async (trx) => {
        await trx('tags').insert({ itemId: 1 });
        await trx.transaction(async (inner) => inner('tags').insert({ itemId: 2 }));
      });
    });
    expect(effects(statements)).toEqual([
      ["insert into `items` (`name`) select 'gamma' as `name` union all select 'O''Brien' as `name`", write('items')],
      ["update `items` set `name` = 'ALPHA' where `id` = 1", write('items', 'items')],
      [
        expect.stringMatching(/^insert into `items` \(`id`, `name`\) values \(2, 'BETA'\) on conflict \(`id`\) do update set/),
        write('items', 'items'),
      ],
      ["insert into `items` (`id`, `name`) values (2, 'ignored') on conflict (`id`) do nothing", write('items')],
      ['delete from `tags` where `itemId` = 1', write('tags', 'tags')],
      ['create index `items_name_index` on `items` (`name`)', write('items')],
      ['BEGIN IMMEDIATE;', READ],
      ['insert into `tags` (`itemId`) values (1)', write('tags')],
      [expect.stringMatching(/^SAVEPOINT trx\d+;$/), READ],
      ['insert into `tags` (`itemId`) values (2)', write('tags')],
      [expect.stringMatching(/^RELEASE SAVEPOINT trx\d+;$/), READ],
      ['COMMIT;', READ],
    ]);
  });
});

/**
 * Statements as a migration (or SQLite itself, for `-- TRIGGER`) may run them, and their effect.
 * `compiles: false` for what is not a statement of its own (a trace's trigger announcement).
 */
const STATEMENTS: readonly (readonly [string, StatementEffect, { compiles?: boolean }?])[] = [
  // reads and transaction control
  ['SELECT * FROM items', READ],
  ['select count(*) from "items"', READ],
  ['VALUES (1), (2)', READ],
  ['EXPLAIN QUERY PLAN SELECT * FROM items', READ],
  ['WITH n AS (SELECT 1) SELECT * FROM n', READ],
  ['BEGIN', READ],
  ['BEGIN IMMEDIATE;', READ],
  ['COMMIT', READ],
  ['END TRANSACTION', READ],
  ['ROLLBACK', READ],
  ['SAVEPOINT s1', READ],
  ['RELEASE SAVEPOINT s1', READ],
  ['ROLLBACK TO SAVEPOINT s1', READ],
  ["ATTACH DATABASE ':memory:' AS aux2", READ],
  ['DETACH DATABASE aux', READ],
  ['', READ, { compiles: false }],
  // comments before a statement
  ['-- add gamma\nINSERT INTO items (name) VALUES (1)', write('items')],
  ['/* add gamma */ INSERT INTO items (name) VALUES (1)', write('items')],
  ['  /* a */ -- b\n  DELETE FROM items', write('items', 'items')],
  ['-- just a note\nSELECT 1', READ],
  // INSERT, quoting styles, schema prefixes
  ["INSERT INTO items (name) VALUES ('x')", write('items')],
  ['insert into "items" (name) values (\'x\')', write('items')],
  ["INSERT INTO `items` (name) VALUES ('x')", write('items')],
  ["INSERT INTO [items] (name) VALUES ('x')", write('items')],
  ["INSERT INTO 'items' (name) VALUES ('x')", write('items')],
  ["INSERT INTO main.items (name) VALUES ('x')", write('items')],
  ['INSERT INTO "main"."items" (name) VALUES (\'x\')', write('items')],
  ["INSERT INTO MAIN . `items` (name) VALUES ('x')", write('items')],
  ['INSERT INTO "odd ""name""" (x) VALUES (1)', write('odd "name"')],
  ['INSERT INTO main.[odd "name"] (x) VALUES (1)', write('odd "name"')],
  ['INSERT INTO temp.scratch (x) VALUES (1)', READ],
  ['INSERT INTO "temp".scratch (x) VALUES (1)', READ],
  ['INSERT INTO aux.t (x) VALUES (1)', READ],
  ['INSERT INTO items DEFAULT VALUES', write('items')],
  ['INSERT INTO items (name) SELECT a FROM other', write('items')],
  // conflicts that replace rows change existing rows
  ["INSERT OR REPLACE INTO items (id, name) VALUES (1, 'x')", write('items', 'items')],
  ["REPLACE INTO items (id, name) VALUES (1, 'x')", write('items', 'items')],
  ["INSERT OR IGNORE INTO items (id, name) VALUES (1, 'x')", write('items')],
  ["INSERT OR ABORT INTO main.items (id, name) VALUES (1, 'x')", write('items')],
  ["INSERT INTO items (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = excluded.name", write('items', 'items')],
  ["INSERT INTO items (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING", write('items')],
  [
    "INSERT INTO items (id, name) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING ON CONFLICT DO UPDATE SET name = 'y'",
    write('items', 'items'),
  ],
  // UPDATE and DELETE
  ["UPDATE items SET name = 'x' WHERE id = 1", write('items', 'items')],
  ['UPDATE OR IGNORE "main".items SET name = \'x\'', write('items', 'items')],
  ['UPDATE OR REPLACE items SET id = 1', write('items', 'items')],
  ['UPDATE temp.scratch SET x = 1', READ],
  ['DELETE FROM items WHERE id = 1', write('items', 'items')],
  ['DELETE FROM main.[items]', write('items', 'items')],
  ['DELETE FROM temp.scratch', READ],
  // WITH … INSERT/UPDATE/DELETE
  ['WITH n(x) AS (SELECT 1) INSERT INTO items (name) SELECT x FROM n', write('items')],
  ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) DELETE FROM items WHERE id IN c', write('items', 'items')],
  [
    'WITH a AS MATERIALIZED (SELECT \')\' AS p), b AS NOT MATERIALIZED (SELECT "(" FROM items) UPDATE items SET name = (SELECT p FROM a)',
    write('items', 'items'),
  ],
  ['WITH "q(" AS (SELECT 1) REPLACE INTO items (id) SELECT 1 FROM "q("', write('items', 'items')],
  ['WITH n AS (SELECT 1) INSERT INTO temp.scratch SELECT * FROM n', READ],
  // CREATE
  ['CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)', write('notes')],
  ['CREATE TABLE IF NOT EXISTS main."notes" (id INTEGER PRIMARY KEY)', write('notes')],
  ['CREATE TABLE notes AS SELECT * FROM items', write('notes')],
  ['CREATE TEMP TABLE t2 (x)', READ],
  ['CREATE TEMPORARY TABLE t2 (x)', READ],
  ['CREATE TABLE temp.t2 (x)', READ],
  ['CREATE INDEX items_name2 ON items (name)', write('items')],
  ['CREATE UNIQUE INDEX IF NOT EXISTS "items_name2" ON "items" ("name")', write('items')],
  ['CREATE INDEX main.items_name2 ON `items` (name) WHERE name IS NOT NULL', write('items')],
  ['CREATE VIEW v2 AS SELECT * FROM items', write(null)],
  ['CREATE TRIGGER tr2 AFTER INSERT ON items BEGIN DELETE FROM other; END', write(null)],
  ['CREATE TEMP TRIGGER tr2 AFTER INSERT ON main.items BEGIN SELECT 1; END', READ],
  ['CREATE TEMP VIEW v2 AS SELECT 1', READ],
  ['CREATE VIRTUAL TABLE ft USING fts5(body)', UNKNOWN],
  // DROP
  ['DROP TABLE items', write(null, 'items')],
  ['DROP TABLE IF EXISTS main."items"', write(null, 'items')],
  ['DROP TABLE temp.scratch', READ],
  ['DROP INDEX items_name', write(null)],
  ['DROP INDEX IF EXISTS main.items_name', write(null)],
  ['DROP VIEW v', write(null)],
  ['DROP TRIGGER tr', write(null)],
  // ALTER TABLE
  ['ALTER TABLE items RENAME TO things', write('things', 'things')],
  ['ALTER TABLE main."items" RENAME TO "things"', write('things', 'things')],
  ['ALTER TABLE items RENAME COLUMN name TO title', write('items')],
  ['ALTER TABLE items RENAME name TO title', write('items')],
  ['ALTER TABLE items ADD COLUMN extra TEXT', write('items')],
  ['ALTER TABLE items ADD extra TEXT REFERENCES other (id)', write('items')],
  ['ALTER TABLE items DROP COLUMN notes', write('items', 'items')],
  ['ALTER TABLE temp.scratch ADD COLUMN y', READ],
  // PRAGMAs: foreign keys switched on may cascade; reads and connection settings write nothing
  ['PRAGMA foreign_keys = ON', UNKNOWN],
  ['PRAGMA foreign_keys = 1', UNKNOWN],
  ['PRAGMA foreign_keys=true', UNKNOWN],
  ["PRAGMA foreign_keys = 'yes'", UNKNOWN],
  ['PRAGMA main.foreign_keys = ON', UNKNOWN],
  ['PRAGMA foreign_keys = OFF', READ],
  ['PRAGMA foreign_keys = OFF;', READ],
  ['PRAGMA foreign_keys = ON;', UNKNOWN],
  ['PRAGMA foreign_keys = 0', READ],
  ["PRAGMA foreign_keys = 'false'", READ],
  ['PRAGMA foreign_keys', READ],
  ['PRAGMA table_info(items)', READ],
  ['PRAGMA main.index_list("items")', READ],
  ['PRAGMA temp.table_info(scratch)', READ],
  ['PRAGMA foreign_key_list(`tags`)', READ],
  ['PRAGMA foreign_key_check', READ],
  ['PRAGMA integrity_check', READ],
  ["PRAGMA integrity_check('items')", READ],
  ['PRAGMA quick_check', READ],
  ['PRAGMA legacy_alter_table = ON', READ],
  ['PRAGMA defer_foreign_keys = ON', READ],
  ['PRAGMA busy_timeout = 1000', READ],
  ['PRAGMA writable_schema = ON', UNKNOWN],
  ['PRAGMA optimize', UNKNOWN],
  ['PRAGMA incremental_vacuum', UNKNOWN],
  ['PRAGMA auto_vacuum = FULL', UNKNOWN],
  ['PRAGMA main.some_future_pragma', UNKNOWN],
  // a trigger's statements, and whole-file maintenance
  ['-- TRIGGER tr', UNKNOWN, { compiles: false }],
  ['--TRIGGER "odd name"', UNKNOWN, { compiles: false }],
  ['VACUUM', UNKNOWN],
  ['REINDEX', UNKNOWN],
  ['REINDEX items', UNKNOWN],
  ['ANALYZE', UNKNOWN],
  ['ANALYZE main.items', UNKNOWN],
];

describe('classifyStatement: the statement table', () => {
  it.each(STATEMENTS.map(([sql, effect]) => [sql.replaceAll('\n', '\\n') || '(empty)', sql, effect] as const))(
    '%s',
    (_label, sql, effect) => {
      expect(classifyStatement(sql)).toEqual(effect);
    },
  );

  describe('every statement of the table is one SQLite compiles', () => {
    let connection: SqliteConnection;
    beforeAll(async () => {
      connection = await SqliteConnection.open(':memory:', 'create');
      await connection.exec(
        `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, notes TEXT);
         CREATE TABLE other (id INTEGER PRIMARY KEY, a TEXT, b TEXT);
         CREATE TABLE tags (id INTEGER PRIMARY KEY, itemId INTEGER REFERENCES items (id));
         CREATE TABLE "odd ""name""" (x);
         CREATE INDEX items_name ON items (name);
         CREATE VIEW v AS SELECT * FROM items;
         CREATE TRIGGER tr AFTER DELETE ON items BEGIN DELETE FROM tags WHERE itemId = OLD.id; END;
         CREATE TEMP TABLE scratch (x);
         ATTACH DATABASE ':memory:' AS aux;
         CREATE TABLE aux.t (x);`,
      );
    });
    afterAll(async () => {
      await connection.close();
    });
    it.each(STATEMENTS.filter(([, , options]) => options?.compiles !== false).map(([sql]) => [sql.replaceAll('\n', '\\n'), sql]))(
      '%s',
      async (_label, sql) => {
        await expect(connection.all(/^EXPLAIN\b/.test(sql) ? sql : `EXPLAIN ${sql}`)).resolves.toBeDefined();
      },
    );
  });

  // Regression (this test found it; src/engines/write-set.ts, `pragma`): a PRAGMA with the `temp.` prefix is taken
  // for a read, but connection-wide PRAGMAs ignore the schema: `PRAGMA temp.foreign_keys = ON`
  // switches enforcement on (cascades then write tables no statement names) and
  // `PRAGMA temp.writable_schema = ON` lets `UPDATE sqlite_master` rewrite an index's definition,
  // which the changed-set check never looks at (sqlite_master is not a listed table). Reproduction:
  // `classifyStatement('PRAGMA temp.foreign_keys = ON')` returns { kind: 'read' }; on a sqlite3
  // connection, `PRAGMA temp.foreign_keys = ON; PRAGMA foreign_keys` answers 1.
  it.each([['PRAGMA temp.foreign_keys = ON'], ['PRAGMA temp.writable_schema = ON']])(
    '%s switches the connection, not the temp schema: unknown',
    (sql) => {
      expect(classifyStatement(sql)).toEqual(UNKNOWN);
    },
  );
});

describe('WriteSet', () => {
  it('gathers the tables written and those whose rows changed, sorted, once each', () => {
    const written = new WriteSet(sqliteStatements);
    for (const sql of [
      'BEGIN',
      'INSERT INTO tags (itemId) VALUES (1)',
      "UPDATE items SET name = 'x'",
      'CREATE TABLE notes (x)',
      "INSERT INTO `items` (name) VALUES ('y')",
      'DROP TABLE old_things',
      'SELECT * FROM other',
      'COMMIT',
    ]) {
      written.add(sql);
    }
    expect(written.result()).toEqual({ tables: ['items', 'notes', 'tags'], rowsChanged: ['items', 'old_things'], unknown: null });
  });

  it('counts the whole database as changed from the first statement it cannot account for, named on one line', () => {
    const written = new WriteSet(sqliteStatements);
    written.add('INSERT INTO items (name) VALUES (1)');
    written.add(`-- TRIGGER audit_items`);
    written.add('INSERT INTO tags (itemId) VALUES (1)');
    expect(written.result()).toEqual({ tables: ['items'], rowsChanged: [], unknown: '-- TRIGGER audit_items' });

    const long = new WriteSet(sqliteStatements);
    long.add(`VACUUM\n  ${'-- padding '.repeat(20)}`);
    const unknown = long.result().unknown!;
    expect(unknown).toHaveLength(120);
    expect(unknown.startsWith('VACUUM -- padding')).toBe(true);
    expect(unknown.endsWith('...')).toBe(true);
  });

  it('notices foreign keys turned on, even after a statement it could not account for', () => {
    const written = new WriteSet(sqliteStatements);
    written.add('VACUUM');
    written.add('PRAGMA main.foreign_keys = 1');
    expect(written.result()).toEqual({ tables: [], rowsChanged: [], unknown: 'VACUUM', foreignKeysOn: true });

    const off = new WriteSet(sqliteStatements);
    off.add('PRAGMA foreign_keys = OFF');
    off.add('PRAGMA foreign_keys');
    expect(off.result().foreignKeysOn).toBeUndefined();
  });

  it('is empty and complete when nothing was written', () => {
    const written = new WriteSet(sqliteStatements);
    written.add('SELECT 1');
    written.add('PRAGMA table_info(items)');
    expect(written.result()).toEqual({ tables: [], rowsChanged: [], unknown: null });
  });
});

describe('the write set of a real run: the integrity check proves exactly the tables the migrations wrote', () => {
  /** `001_items` applied on a fresh database (the run creates the history table). */
  async function baseline(): Promise<void> {
    await project.writeMigration('001_items.ts', createItems);
    const report = await migrateProject(project);
    expect(report.exitCode).toBe(0);
    expect(provenTables(report)).toEqual(['items', 'migrate_guard_migrations']);
  }

  it("names each table a run wrote, knex's rebuild and quoted names included, and no other", async () => {
    await exec(project.db, 'CREATE TABLE untouched (x); INSERT INTO untouched VALUES (1);');
    await project.writeMigration('001_items.ts', createItems);
    await project.writeMigration(
      '002_tags.ts',
      `export async function up({ context }) {
  await context.schema.createTable('tags', (t) => { t.increments('id'); t.integer('itemId').references('id').inTable('items'); });
  await context('tags').insert({ itemId: 1 });
  await context.schema.alterTable('items', (t) => t.text('notes'));
}`,
    );
    await project.writeMigration(
      '003_rebuild.ts',
      `export async function up({ context }) { await context.schema.alterTable('items', (t) => t.dropColumn('notes')); }`,
    );
    await project.writeMigration('004_odd.sql', `CREATE TABLE "odd ""name""" (x); INSERT INTO main."odd ""name""" VALUES (1);`);
    const report = await migrateProject(project);
    expect(report.exitCode, JSON.stringify(report.failed)).toBe(0);
    expect(provenTables(report)).toEqual(['items', 'migrate_guard_migrations', 'odd "name"', 'tags']);
  });

  it('leaves a table the run did not write to the quick check', async () => {
    await baseline();
    await project.writeMigration('002_other.sql', 'CREATE TABLE other (x); INSERT INTO other VALUES (1);');
    const report = await migrateProject(project);
    expect(report.exitCode).toBe(0);
    expect(provenTables(report)).toEqual(expect.arrayContaining(['other']));
    expect(provenTables(report)).not.toContain('items');
  });

  it('checks the whole file when a trigger fires during the run', async () => {
    await baseline();
    await project.writeMigration(
      '002_audit.sql',
      `CREATE TABLE audit (msg TEXT);
       CREATE TRIGGER audit_items AFTER INSERT ON items BEGIN INSERT INTO audit VALUES (NEW.name); END;
       INSERT INTO items (name) VALUES ('gamma');`,
    );
    const report = await migrateProject(project);
    expect(report.exitCode).toBe(0);
    expect(provenTables(report)).toBeNull();
    expect(report.checks[0]).toEqual({
      name: 'integrity (full)',
      ok: true,
      detail: 'ok (integrity_check of the whole file: the run\'s writes could not all be accounted for, at "-- TRIGGER audit_items")',
    });
  });
});

describe('watchWrites on the migration connection (openKnex)', () => {
  it('records what the statements run through the handle wrote, from when it was asked', async () => {
    const handle = openKnex(project.db);
    try {
      await handle.knex.raw('CREATE TABLE before_watching (x)');
      const read = handle.watchWrites();
      await handle.knex.transaction(async (trx) => {
        await trx.schema.createTable('items', (t) => t.increments('id'));
        await trx('items').insert({});
        await trx.raw('INSERT INTO before_watching VALUES (1)');
        await trx('before_watching').delete();
      });
      await macrotask();
      expect(await read(readerOf(handle.knex))).toEqual({
        tables: ['before_watching', 'items'],
        rowsChanged: ['before_watching'],
        unknown: null,
      });
    } finally {
      await handle.destroy();
    }
  });

  // Regression (this test found it; src/engines/sqlite/knex.ts `watchWrites`, read by src/rollout/apply.ts right after the
  // last migration): node-sqlite3 delivers 'trace' events through an async handle of their own,
  // and when a statement's completion and its trace are pending together the completion runs
  // first; inside a transaction (a group run) nothing waits for a macrotask between the last
  // statement and reading the set, so that statement is not in it. In a group run the last
  // statement is the history row's INSERT: under load the integrity check's detail then leaves
  // out migrate_guard_migrations (seen in test/rollout/group.test.ts's successful run under
  // `vitest run`). Reproduction (below): inside `knex.transaction()` on `openKnex(db)`, with the
  // main thread busy while the statement runs (a setImmediate loop that spins 10 ms), `await
  // trx('t').insert(…)` then `read()` lacks `t`. With node-sqlite3 alone: `db.on('trace', f);
  // db.run('INSERT …', cb)`: in `cb`, `f` has not yet been called for the INSERT.
  it('has the last statement in the set as soon as that statement returned', async () => {
    const handle = openKnex(project.db);
    const tables = Array.from({ length: 20 }, (_, i) => `t${i}`);
    let busy = true;
    const spin = () => {
      if (!busy) return;
      const until = Date.now() + 10;
      while (Date.now() < until);
      setImmediate(spin);
    };
    try {
      for (const table of tables) await handle.knex.raw(`CREATE TABLE ${table} (x)`);
      const read = handle.watchWrites();
      const trx = await handle.knex.transaction();
      const missing: string[] = [];
      setImmediate(spin);
      try {
        for (const table of tables) {
          await trx(table).insert({ x: 1 });
          if (!(await read(readerOf(trx))).tables.includes(table)) missing.push(table);
        }
      } finally {
        busy = false;
        await trx.commit();
      }
      expect(missing).toEqual([]);
    } finally {
      busy = false;
      await handle.destroy();
    }
  });
});

const macrotask = () => new Promise((resolve) => setTimeout(resolve, 10));

/** A reader over a knex instance or transaction, as the SQLite engine makes one. */
function readerOf(knex: Knex): Reader {
  return { all: async (sql, bindings = []) => (await knex.raw(sql, bindings as never)) as never };
}
