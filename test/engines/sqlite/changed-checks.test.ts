import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runChecks } from '../../../src/checks/run.ts';
import { resolveConfig } from '../../../src/config/load.ts';
import type { ChangedSet } from '../../../src/engines/contract.ts';
import { foreignKeyViolationsOfChanges, integrityOfChanges } from '../../../src/engines/sqlite/changed-checks.ts';
import { SqliteConnection, withConnection } from '../../../src/engines/sqlite/connection.ts';
import { sqliteEngine } from '../../../src/engines/sqlite/engine.ts';
import { WriteSet } from '../../../src/engines/write-set.ts';
import { sqliteStatements } from '../../../src/engines/sqlite/write-set.ts';
import { TempProject, exec, query } from '../../helpers/project.ts';
import { createItems } from '../../helpers/migrations.ts';
import { corruptIndex } from '../../helpers/rollout.ts';
import { migrateProject } from '../../helpers/sqlite-trace.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await exec(
    project.db,
    `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
     CREATE TABLE tags (id INTEGER PRIMARY KEY, itemId INTEGER REFERENCES items (id));
     INSERT INTO items (name) VALUES ('alpha'), ('beta');
     INSERT INTO tags (itemId) VALUES (1), (2);`,
  );
});
afterEach(async () => {
  await project.cleanup();
});

/** Runs `statements` on the database, as a migration would, and returns the set they wrote. */
async function run(...statements: string[]): Promise<ChangedSet> {
  const written = new WriteSet(sqliteStatements);
  for (const sql of statements) {
    await exec(project.db, sql);
    written.add(sql);
  }
  return written.result();
}

const integrity = (changed: ChangedSet | undefined) =>
  withConnection(SqliteConnection.open(project.db, 'readonly'), (reader) => integrityOfChanges(reader, 'full', changed));
const violations = (changed: ChangedSet | undefined) =>
  withConnection(SqliteConnection.open(project.db, 'readonly'), (reader) => foreignKeyViolationsOfChanges(reader, changed));

describe('integrityOfChanges (full)', () => {
  it('finds an index corruption in a table the run wrote, naming the table', async () => {
    await corruptIndex(project.db, 'other');
    const changed = await run("INSERT INTO other (a, b) VALUES ('a4', 'ww')");
    const result = await integrity(changed);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^integrity_check\(other\): row 1 missing from index other_a; row 2 missing/);
  });

  it('does not look at a table the run did not write: quick_check of the file, integrity_check of what it wrote', async () => {
    await corruptIndex(project.db, 'other');
    const changed = await run("INSERT INTO items (name) VALUES ('gamma')", 'DELETE FROM tags WHERE id = 2');
    expect(await integrity(changed)).toEqual({
      ok: true,
      detail: 'ok (quick_check of the whole file; integrity_check of what the run wrote: items, tags)',
    });
  });

  it('checks the whole file without a set, with an unknown one, and for integrity: whole-file', async () => {
    await corruptIndex(project.db, 'other');
    const complete = await run("INSERT INTO items (name) VALUES ('gamma')");
    const unknown = await run('ANALYZE');
    expect(unknown.unknown).toBe('ANALYZE');
    for (const changed of [undefined, unknown]) {
      const result = await integrity(changed);
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(/^row 1 missing from index other_a/);
    }
    const engine = sqliteEngine(project.db);
    const checks = async (level: 'full' | 'whole-file') =>
      withConnection(SqliteConnection.open(project.db, 'readonly'), (reader) =>
        runChecks({
          engine,
          reader,
          knex: null as never,
          changed: complete,
          checks: { ...resolveConfig({}).checks, integrity: level, foreignKeys: false, smoke: [] },
        }),
      );
    expect((await checks('full'))[0]).toMatchObject({ name: 'integrity (full)', ok: true });
    expect((await checks('whole-file'))[0]).toMatchObject({
      name: 'integrity (whole-file)',
      ok: false,
      detail: expect.stringMatching(/missing from index other_a/),
    });
  });

  it('says which statement made the set unknown when the whole file passes', async () => {
    const changed = await run('VACUUM');
    expect(await integrity(changed)).toEqual({
      ok: true,
      detail: 'ok (integrity_check of the whole file: the run\'s writes could not all be accounted for, at "VACUUM")',
    });
  });

  it('reports a quick_check failure of the file before any table', async () => {
    // A page the free list and a table both claim: quick_check sees it.
    await exec(
      project.db,
      'CREATE TABLE big (x); WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50) INSERT INTO big SELECT randomblob(3000) FROM c;',
    );
    const [{ rootpage }] = (await query<{ rootpage: number }>(project.db, "SELECT rootpage FROM sqlite_master WHERE name = 'big'")) as [
      { rootpage: number },
    ];
    await exec(
      project.db,
      `PRAGMA writable_schema = ON; UPDATE sqlite_master SET rootpage = ${rootpage} WHERE name = 'tags'; PRAGMA writable_schema = OFF;`,
    );
    const result = await integrity({ tables: ['items'], rowsChanged: [], unknown: null });
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^quick_check: /);
  });

  it('skips a written table that no longer exists (dropped, or renamed away)', async () => {
    const changed = await run(
      'CREATE TABLE scratch (x)',
      'INSERT INTO scratch VALUES (1)',
      'ALTER TABLE scratch RENAME TO kept',
      'CREATE TABLE gone (x)',
      'DROP TABLE gone',
    );
    expect(changed.tables).toEqual(['gone', 'kept', 'scratch']);
    expect(await integrity(changed)).toEqual({
      ok: true,
      detail: 'ok (quick_check of the whole file; integrity_check of what the run wrote: kept)',
    });
  });

  it('checks tables whose names hold quotes, and no name is spliced into SQL', async () => {
    const odd = `it's "odd"`;
    await corruptIndex(project.db, odd);
    const result = await integrity({ tables: [odd], rowsChanged: [], unknown: null });
    expect(result.ok).toBe(false);
    expect(result.detail.startsWith(`integrity_check(${odd}): row 1 missing from index`)).toBe(true);

    const hostile = "x'); DROP TABLE items; --";
    await exec(project.db, `CREATE TABLE "${hostile}" (y)`);
    expect(await integrity({ tables: [hostile, 'tags'], rowsChanged: [], unknown: null })).toEqual({
      ok: true,
      detail: `ok (quick_check of the whole file; integrity_check of what the run wrote: ${hostile}, tags)`,
    });
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM items')).toEqual([{ n: 2 }]);
  });

  // Regression (this test found it; src/engines/sqlite/changed-checks.ts, `integrityOfChanges`): the written tables are
  // matched against the schema's names case-sensitively, but SQLite's names are not: a run that
  // writes `OTHER` wrote `other`, and its integrity_check is skipped. Reproduction: the recipe of
  // test/helpers/rollout.ts `corruptIndex` on `other`; `INSERT INTO OTHER (a, b) VALUES ('x', 'y')`;
  // integrityOfChanges(reader, 'full', { tables: ['OTHER'], … }) → ok, "integrity_check of what
  // the run wrote: no table". (knex('Other').insert(…) writes the same statement.)
  it('finds the corruption in a table the run wrote under another case of its name', async () => {
    await corruptIndex(project.db, 'other');
    const changed = await run("INSERT INTO OTHER (a, b) VALUES ('a4', 'ww')");
    expect(changed.tables).toEqual(['OTHER']);
    expect((await integrity(changed)).ok).toBe(false);
  });
});

describe('foreignKeyViolationsOfChanges', () => {
  const orphan = (table: string, row: number, parent: string) => ({ table, row: String(row), parent });

  it('finds a violation in a table the run wrote', async () => {
    const changed = await run('INSERT INTO tags (itemId) VALUES (999)');
    expect(await violations(changed)).toEqual([orphan('tags', 3, 'items')]);
  });

  it('finds the violation in a child the run did not write, of a parent whose rows it deleted', async () => {
    const changed = await run('DELETE FROM items WHERE id = 1');
    expect(changed).toEqual({ tables: ['items'], rowsChanged: ['items'], unknown: null });
    expect(await violations(changed)).toEqual([orphan('tags', 1, 'items')]);
  });

  it('finds the violations of a parent that was updated, replaced, or dropped', async () => {
    expect(await violations(await run('UPDATE items SET id = 10 WHERE id = 2'))).toEqual([orphan('tags', 2, 'items')]);
    expect(await violations(await run('DROP TABLE items'))).toEqual([orphan('tags', 1, 'items'), orphan('tags', 2, 'items')]);
  });

  it("follows a parent named in another case in the child's foreign key", async () => {
    await exec(
      project.db,
      'CREATE TABLE notes (id INTEGER PRIMARY KEY, itemId INTEGER REFERENCES "ITEMS" (id)); INSERT INTO notes (itemId) VALUES (1);',
    );
    expect(await violations(await run('DELETE FROM items WHERE id = 1'))).toEqual([
      orphan('notes', 1, 'ITEMS'),
      orphan('tags', 1, 'items'),
    ]);
  });

  it('does not look at a violation the run could not have caused; the whole-database check does', async () => {
    await exec(project.db, 'INSERT INTO tags (itemId) VALUES (999)');
    const changed = await run("INSERT INTO items (name) VALUES ('gamma')");
    expect(await violations(changed)).toEqual([]);
    const unknown = await run('REINDEX');
    for (const whole of [undefined, unknown]) expect(await violations(whole)).toEqual([orphan('tags', 3, 'items')]);
  });

  it('handles tables whose names hold quotes', async () => {
    const parent = `pa'rent "p"`;
    const child = `ki'ds`;
    const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;
    await exec(
      project.db,
      `CREATE TABLE ${quoted(parent)} (id INTEGER PRIMARY KEY);
       CREATE TABLE ${quoted(child)} (id INTEGER PRIMARY KEY, p INTEGER REFERENCES ${quoted(parent)} (id));
       INSERT INTO ${quoted(parent)} VALUES (1); INSERT INTO ${quoted(child)} (p) VALUES (1);`,
    );
    const changed = await run(`DELETE FROM ${quoted(parent)}`);
    expect(changed.rowsChanged).toEqual([parent]);
    expect(await violations(changed)).toEqual([orphan(child, 1, parent)]);
  });

  // Regression (this test found it; src/engines/sqlite/changed-checks.ts, `foreignKeyViolationsOfChanges`): the written
  // tables are matched against the schema's names case-sensitively (`existing.includes(table)`),
  // so a child written as `TAGS` is not checked and its orphan row passes. Reproduction: tags →
  // items; `INSERT INTO TAGS (itemId) VALUES (999)`; foreignKeyViolationsOfChanges(reader,
  // { tables: ['TAGS'], rowsChanged: [], unknown: null }) → []. End to end, see below.
  it('finds a violation in a table the run wrote under another case of its name', async () => {
    const changed = await run('INSERT INTO TAGS (itemId) VALUES (999)');
    expect(await violations(changed)).toEqual([orphan('tags', 3, 'items')]);
  });

  // Regression (this test found it; the same, end to end): a migration that inserts an orphan row through `knex('TAGS')`
  // commits it (exit 0), while through `knex('tags')` the run rolls back (exit 2). Reproduction:
  // 001 creates items and tags (tags.itemId → items.id); 002: `await context('TAGS').insert({
  // itemId: 999 })`; `migrate` exits 0 and `SELECT * FROM tags` has the orphan.
  it('rolls back a run that leaves an orphan row in a table it names in another case', async () => {
    await project.cleanup();
    project = await TempProject.create();
    await project.writeMigration('001_items.ts', createItems);
    await project.writeMigration(
      '002_tags.ts',
      `export async function up({ context }) {
  await context.schema.createTable('tags', (t) => { t.increments('id'); t.integer('itemId').references('id').inTable('items'); });
}`,
    );
    expect((await migrateProject(project)).exitCode).toBe(0);
    await project.writeMigration(
      '003_orphan.ts',
      `export async function up({ context }) { await context('TAGS').insert({ itemId: 999 }); }`,
    );
    const report = await migrateProject(project);
    expect(report.checks.find((check) => check.name === 'foreign-keys')).toMatchObject({ ok: false });
    expect(report).toMatchObject({ exitCode: 2, undo: 'rollback' });
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM tags')).toEqual([{ n: 0 }]);
  });
});
