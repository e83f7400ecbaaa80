/** Sources, database damage and inspections shared by the group-rollout and changed-set tests. */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { expect } from 'vitest';
import { exec, query, type TempProject } from './project.ts';

/** A transactional migration that creates a table and writes rows into it and into `items`. */
export const notesAndGamma = `
export async function up({ context }) {
  await context.schema.createTable('notes', (t) => { t.increments('id'); t.string('body'); });
  await context('notes').insert([{ body: 'one' }, { body: 'two' }]);
  await context('items').insert({ name: 'gamma' });
}
export async function down({ context }) { await context.schema.dropTable('notes'); }
`;

/** Opts out of transactions (as knex's \`config.transaction = false\`): the run goes per migration. */
export const untransactedItem = (name: string) => `
export const config = { transaction: false };
export async function up({ context }) { await context('items').insert({ name: '${name}' }); }
`;

/** Inserts rows into `table` (a table with columns a, b), inside the migration's transaction. */
export const insertInto = (table: string) => `
export async function up({ context }) {
  await context('${table}').insert([{ a: 'new-1', b: 'x' }, { a: 'new-2', b: 'y' }]);
}
`;

/**
 * A transactional migration: inserts rows, then (with HANG=1) writes a marker file and keeps
 * writing small batches until it is killed; without HANG it just returns, having written its rows.
 */
export const groupedThenHang = (marker: string) => `
import { writeFileSync } from 'node:fs';
export async function up({ context }) {
  await context('items').insert([{ name: 'grouped-1' }, { name: 'grouped-2' }]);
  if (process.env.HANG !== '1') return;
  await context.schema.createTable('batches', (t) => { t.increments('id'); });
  writeFileSync(${JSON.stringify(marker)}, String(process.pid));
  for (;;) {
    await context('batches').insert({});
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
`;

/**
 * Creates `table` (id, a, b) with an index on `a`, then rewrites the index's definition to say it
 * is on `b`: the index b-tree still holds `a`'s values, so `quick_check` says ok while
 * `integrity_check` (of the file or of the table) reports rows missing from the index.
 */
export async function corruptIndex(db: string, table: string): Promise<void> {
  const name = table.replaceAll('"', '""');
  const index = `${table}_a`.replaceAll('"', '""');
  const sql = `CREATE INDEX "${index}" ON "${name}"(b)`.replaceAll("'", "''");
  await exec(
    db,
    `CREATE TABLE "${name}" (id INTEGER PRIMARY KEY, a TEXT, b TEXT);
     CREATE INDEX "${index}" ON "${name}"(a);
     INSERT INTO "${name}" (a, b) VALUES ('a1', 'zz'), ('a2', 'yy'), ('a3', 'xx');
     PRAGMA writable_schema = ON;
     UPDATE sqlite_master SET sql = '${sql}' WHERE name = '${`${table}_a`.replaceAll("'", "''")}';
     PRAGMA writable_schema = OFF;`,
  );
}

/** The names in the database's history table (knex's when it has one, else migrate-guard's), in order. */
export async function history(db: string): Promise<string[]> {
  const knex = await query(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'knex_migrations'");
  const table = knex.length > 0 ? 'knex_migrations' : 'migrate_guard_migrations';
  const rows = await query<{ name: string }>(db, `SELECT name FROM ${table} ORDER BY name`);
  return rows.map((row) => row.name);
}

/**
 * The backup folder holds proven backups only: every file is a backup with its manifest (or that
 * manifest), nothing half-written (no temporary copy, no backup without manifest, no side file).
 */
export async function expectOnlyProvenBackups(project: TempProject): Promise<void> {
  const files = await project.backupFiles();
  const manifests = new Set(files.filter((file) => file.endsWith('.manifest.json')));
  const backups = files.filter((file) => !manifests.has(file));
  for (const backup of backups) expect(manifests.has(`${backup}.manifest.json`), `${backup} has no manifest`).toBe(true);
  for (const manifest of manifests) expect(backups, `${manifest} has no backup`).toContain(manifest.slice(0, -'.manifest.json'.length));
}

/** Pre-restore copies beside the database: a restore (not a rollback) leaves one. */
export async function preRestoreCopies(project: TempProject): Promise<string[]> {
  return (await readdir(project.dir)).filter((name) => name.includes('.pre-restore.'));
}

/** The run journal of the project's database is gone: the run ended in a known state. */
export function expectNoJournal(project: TempProject): void {
  expect(existsSync(`${project.db}.migrate-guard.journal.json`)).toBe(false);
}

/** The check of this name in a report's `checks`. */
export function checkNamed(report: Record<string, any>, prefix: string): { name: string; ok: boolean; detail: string } {
  const check = (report.checks as { name: string; ok: boolean; detail: string }[]).find((entry) => entry.name.startsWith(prefix));
  expect(check, `no check ${prefix} in ${JSON.stringify(report.checks)}`).toBeDefined();
  return check!;
}
