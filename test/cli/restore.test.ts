import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile, writeFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { TempProject, dump, exec, parseReport, query, sha256, sqlite3 } from '../helpers/project.ts';
import { createItems } from '../helpers/migrations.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await project.writeMigration('001_items.ts', createItems);
  await project.writeMigration(
    '002_tags.ts',
    `export async function up({ context }) {
       await context.schema.createTable('tags', (t) => { t.increments('id'); t.integer('itemId').notNullable().references('id').inTable('items'); t.string('label'); t.timestamp('deletedAt').nullable(); });
       await context('tags').insert([{ itemId: 1, label: 'a' }, { itemId: 2, label: 'b', deletedAt: '2026-01-01' }]);
     }`,
  );
  expect((await project.run(['migrate'])).exitCode).toBe(0);
});
afterEach(async () => {
  await project.cleanup();
});

async function backup(kind = 'manual'): Promise<string> {
  const result = await project.run(['backup', '--kind', kind, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return parseReport(result.stdout).backup.path as string;
}

describe('restore', () => {
  it('restores while another connection holds the database open in WAL mode, keeping a pre-restore copy', async () => {
    const app = new sqlite3.Database(project.db);
    const all = (sql: string) => new Promise<unknown[]>((resolve, reject) => app.all(sql, (e, rows) => (e ? reject(e) : resolve(rows))));
    try {
      await all('PRAGMA journal_mode = WAL');
      const file = await backup();
      const expected = await dump(file);
      await all("INSERT INTO items (name) VALUES ('after-backup')");
      await all('DELETE FROM tags');
      const result = await project.run(['restore', file, '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      const report = parseReport(result.stdout);
      expect(report.proof.tables).toMatchObject({ items: 2, tags: 2 });
      expect(report.proof.liveRows).toEqual({ tags: 1 });
      expect(report.durationMs).toBeGreaterThan(0);
      // The application's open connection reads the restored rows, and the database is sound.
      expect(await all('SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
      expect(await all('SELECT COUNT(*) AS n FROM tags')).toEqual([{ n: 2 }]);
      expect(await all('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      expect(await dump(project.db)).toBe(expected);
      // What was there before is kept, WAL content included.
      expect(report.preRestoreCopy).toMatch(/app\.db\.pre-restore\.\d{8}_\d{6}$/);
      expect(await query(report.preRestoreCopy, "SELECT COUNT(*) AS n FROM items WHERE name = 'after-backup'")).toEqual([{ n: 1 }]);
    } finally {
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it('restores a compressed backup', async () => {
    const file = await backup('daily');
    expect(file).toMatch(/\.db\.gz$/);
    const expected = await dump(project.db);
    await exec(project.db, 'DROP TABLE tags;');
    const result = await project.run(['restore', path.basename(file)]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await dump(project.db)).toBe(expected);
  });

  it('refuses a corrupt, a truncated and a foreign backup with exit 1, database untouched', async () => {
    const file = await backup();
    const before = await sha256(project.db);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length / 2));
    const truncated = await project.run(['restore', file, '--json']);
    expect(truncated.exitCode).toBe(1);
    expect(parseReport(truncated.stdout).error.code).toBe('BACKUP_INVALID');
    const foreign = path.join(project.dir, 'foreign.db');
    await writeFile(foreign, 'PK\u0003\u0004 this is a zip file');
    const notSqlite = await project.run(['restore', foreign]);
    expect(notSqlite.exitCode).toBe(1);
    expect(notSqlite.stderr).toContain('not a SQLite database');
    expect(await sha256(project.db)).toBe(before);
  });

  it('refuses a backup that would fail the post-restore checks (foreign keys) before touching anything', async () => {
    const orphaned = path.join(project.dir, 'orphaned.db');
    await exec(
      orphaned,
      `ATTACH ${JSON.stringify(project.db)} AS live; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items SELECT id, name FROM live.items;
      CREATE TABLE tags (id INTEGER PRIMARY KEY, itemId INTEGER REFERENCES items(id), label TEXT); INSERT INTO tags VALUES (1, 99, 'orphan');`,
    );
    const before = await sha256(project.db);
    const result = await project.run(['restore', orphaned, '--json']);
    expect(result.exitCode).toBe(1);
    expect(parseReport(result.stdout).error.message).toContain('foreign-key violations');
    expect(await sha256(project.db)).toBe(before);
  });

  it('--to picks the newest backup at or before the time, and refuses before the first', async () => {
    const files = [await backup(), await backup(), await backup()];
    const times = ['2026-03-01T10:00:00Z', '2026-03-02T10:00:00Z', '2026-03-03T10:00:00Z'];
    for (const [i, file] of files.entries()) {
      const manifestFile = `${file}.manifest.json`;
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
      await writeFile(manifestFile, JSON.stringify({ ...manifest, createdAt: new Date(times[i]!).toISOString() }));
      await utimes(file, new Date(times[i]!), new Date(times[i]!));
    }
    const middle = await project.run(['restore', '--to', '2026-03-02 12:30:00', '--json']);
    expect(middle.exitCode, middle.stderr).toBe(0);
    expect(parseReport(middle.stdout)).toMatchObject({ backup: files[1], gapSeconds: 9000 });
    expect(middle.stderr).toContain('2.5 h before');
    const early = await project.run(['restore', '--to', '2026-02-28T23:00:00+01:00', '--json']);
    expect(early.exitCode).toBe(1);
    expect(parseReport(early.stdout).error.message).toContain('no verified backup taken at or before');
  });
});

describe('restore-table', () => {
  it('exports the rows as reviewable SQL that reproduces the table', async () => {
    const file = await backup();
    await exec(project.db, "UPDATE items SET name = 'x''; DROP TABLE items; --' WHERE id = 1");
    const out = path.join(project.dir, 'items.sql');
    const result = await project.run(['restore-table', file, 'items', '--out', out, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(parseReport(result.stdout)).toMatchObject({ rows: 2, out });
    const sql = await readFile(out, 'utf8');
    expect(sql).toMatch(/^-- migrate-guard restore-table/);
    await exec(project.db, `DELETE FROM items; ${sql}`);
    expect(await query(project.db, 'SELECT id, name FROM items ORDER BY id')).toEqual([
      { id: 1, name: 'alpha' },
      { id: 2, name: 'beta' },
    ]);
  });

  it('applies the backup rows in one transaction, and rolls back on a foreign-key violation', async () => {
    const file = await backup();
    await exec(project.db, "UPDATE items SET name = 'changed'; INSERT INTO items (name) VALUES ('gamma');");
    const applied = await project.run(['restore-table', file, 'items', '--apply', '--json']);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(await query(project.db, 'SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
    expect(parseReport(applied.stdout).preRestoreBackup).toMatch(/manual\//);

    // A tag now points at item 3, which the backup's items table does not have.
    await exec(project.db, "INSERT INTO items (id, name) VALUES (3, 'gamma'); INSERT INTO tags (itemId, label) VALUES (3, 'c');");
    const before = await dump(project.db);
    const refused = await project.run(['restore-table', file, 'items', '--apply', '--json']);
    expect(refused.exitCode).toBe(1);
    expect(parseReport(refused.stdout).violations[0]).toContain('tags rowid 3');
    expect(await dump(project.db)).toBe(before);
  });

  it('refuses an injection attempt as a table name, and differing columns', async () => {
    const file = await backup();
    const before = await sha256(project.db);
    const injected = await project.run(['restore-table', file, 'trades; DROP TABLE accounts;--', '--apply']);
    expect(injected.exitCode).toBe(1);
    expect(injected.stderr).toContain('no table');
    expect(await sha256(project.db)).toBe(before);
    await exec(project.db, 'ALTER TABLE items ADD COLUMN qty INTEGER');
    const columns = await project.run(['restore-table', file, 'items', '--apply']);
    expect(columns.exitCode).toBe(1);
    expect(columns.stderr).toContain('only in the live database: qty');
    expect(await query(project.db, 'SELECT COUNT(*) AS n FROM items')).toEqual([{ n: 2 }]);
  });
});

describe('drill', () => {
  it('restores the newest verified backup into a scratch database and logs the time', async () => {
    await backup();
    const before = await sha256(project.db);
    const result = await project.run(['drill', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ ok: true, objectiveMs: 1_800_000 });
    expect(report.proof.tables).toMatchObject({ items: 2, tags: 2 });
    expect(await sha256(project.db)).toBe(before);
    const events = (await readFile(path.join(project.backups, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ job: 'drill', verified: true, error: null });
  });

  it('fails with exit 4 when the backup cannot be restored', async () => {
    const file = await backup();
    const bytes = await readFile(file);
    bytes[bytes.length - 5]! ^= 0xff;
    await writeFile(file, bytes);
    const result = await project.run(['drill', file, '--json']);
    expect(result.exitCode).toBe(4);
    expect(parseReport(result.stdout).error).toContain('checksum');
  });
});
