/**
 * The torture's project: a database of a few MB (customers and orders with a foreign key, in
 * migrations), the application writer's own tables, a backup folder with backups of several kinds,
 * and two sets of pending migrations (one that runs as a group, one with a `transaction: false`
 * migration, which makes the run per migration). Built once per torture run through the real CLI;
 * every case starts from a copy.
 */
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cli } from './proc.ts';
import { sqlExec } from './db.ts';

export const ORDERS = 25_000;
const CUSTOMERS = 1_000;

/** Deterministic notes of 96 hex characters: the same bytes on every run, a few MB in all. */
const NOTE = Array.from({ length: 12 }, (_, i) => `(x * ${2654435761 + i * 97} + ${i * 40503}) % 4294967296`).join(', ');

const BASE: Record<string, string> = {
  '001_schema.sql': `
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), amount INTEGER NOT NULL, note TEXT NOT NULL);
CREATE INDEX orders_customer ON orders (customer_id);
`,
  '001_schema.down.sql': 'DROP TABLE orders;\nDROP TABLE customers;\n',
  '002_seed.sql': `
INSERT INTO customers (id, name, email)
  WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${CUSTOMERS})
  SELECT x, 'customer ' || x, 'c' || x || '@example.com' FROM n;
INSERT INTO orders (id, customer_id, amount, note)
  WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${ORDERS})
  SELECT x, 1 + (x * 7919) % ${CUSTOMERS}, (x * 104729) % 100000, printf('${'%08x'.repeat(12)}', ${NOTE}) FROM n;
`,
  '002_seed.down.sql': 'DELETE FROM orders;\nDELETE FROM customers;\n',
};

/**
 * A data migration in batches with pauses, so a kill can land inside it; not idempotent (amounts
 * move by one), as real data migrations often are: run twice over the same rows, it shows.
 */
const backfill = (transactional: boolean) => `${transactional ? '' : 'export const config = { transaction: false };\n'}
export async function up({ context: knex }) {
  for (let start = 0; start < ${ORDERS}; start += 1000) {
    await knex.raw("UPDATE orders SET status = CASE WHEN amount % 3 = 0 THEN 'paid' ELSE 'open' END, amount = amount + 1 WHERE id > ? AND id <= ?", [start, start + 1000]);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}
export async function down({ context: knex }) {
  for (let start = 0; start < ${ORDERS}; start += 5000) {
    await knex.raw('UPDATE orders SET status = NULL, amount = amount - 1 WHERE id > ? AND id <= ?', [start, start + 5000]);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}
`;

const pendingSet = (transactional: boolean): Record<string, string> => ({
  '004_status.sql': 'ALTER TABLE orders ADD COLUMN status TEXT;\n',
  '004_status.down.sql': 'ALTER TABLE orders DROP COLUMN status;\n',
  '005_backfill.js': backfill(transactional),
  '006_status_index.sql': 'CREATE INDEX orders_status ON orders (status);\n',
  '006_status_index.down.sql': 'DROP INDEX orders_status;\n',
  '007_totals.sql': `
CREATE TABLE customer_totals (customer_id INTEGER PRIMARY KEY REFERENCES customers(id), orders INTEGER NOT NULL, total INTEGER NOT NULL);
INSERT INTO customer_totals SELECT customer_id, COUNT(*), SUM(amount) FROM orders GROUP BY customer_id;
`,
  '007_totals.down.sql': 'DROP TABLE customer_totals;\n',
});

/** Which pending set: `group` (all transactional) or `per-migration` (005 opts out of transactions). */
export type MigrationSet = 'group' | 'per-migration';
export const PENDING: Readonly<Record<MigrationSet, Record<string, string>>> = {
  group: pendingSet(true),
  'per-migration': pendingSet(false),
};

/** The writer's own tables: one row in each per committed row, the same tag, the second pointing at the first. */
export const WRITER_TABLES = ['ledger', 'journal_entries'] as const;
const WRITER_SCHEMA = `
CREATE TABLE ledger (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE, v BLOB);
CREATE TABLE journal_entries (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE REFERENCES ledger (tag), v BLOB);
`;

/** A config as a project would write it (.mjs: no tsx in the loop, nothing written to TMPDIR by a loader). */
export const CONFIG = `export default { archive: { syncInterval: '100ms' } };\n`;

/** The folder of one project: database, migrations, backups, config. */
export interface ProjectPaths {
  readonly dir: string;
  readonly db: string;
  readonly migrations: string;
  readonly backups: string;
}

export function projectPaths(dir: string): ProjectPaths {
  return { dir, db: path.join(dir, 'app.db'), migrations: path.join(dir, 'migrations'), backups: path.join(dir, 'backups') };
}

export async function writeFiles(folder: string, files: Record<string, string>): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(folder, name), text);
}

/** The templates every case copies: T0 (base applied, pending sets not), and each set applied. */
export interface Templates {
  readonly base: ProjectPaths;
  readonly applied: Readonly<Record<MigrationSet, ProjectPaths>>;
  /** The manual backup taken before the live orders were changed: what restore and restore-table put back. */
  readonly manualBackup: string;
  /** A compressed (daily) backup of the same state. */
  readonly dailyBackup: string;
}

async function mustRun(cli: Cli, project: ProjectPaths, args: string[]): Promise<void> {
  const result = await cli.run(project, args);
  if (result.exitCode !== 0)
    throw new Error(`fixture: migrate-guard ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.slice(-800)}`);
}

export async function buildTemplates(root: string, cli: Cli): Promise<Templates> {
  const base = projectPaths(path.join(root, 'template-base'));
  await rm(base.dir, { recursive: true, force: true });
  await writeFiles(base.dir, { 'package.json': '{ "type": "module" }\n', 'migrate-guard.config.mjs': CONFIG });
  await writeFiles(base.migrations, BASE);
  await mustRun(cli, base, ['migrate', '--create']);
  await sqlExec(base.db, WRITER_SCHEMA);
  // Backups of several kinds (what prune sorts out, what drill and restore read), all of one state.
  for (const kind of ['daily', 'daily', 'daily', 'hot', 'hot']) await mustRun(cli, base, ['backup', '--kind', kind]);
  await mustRun(cli, base, ['backup', '--kind', 'manual']);
  const manual = (await readdir(path.join(base.backups, 'manual'))).find((name) => name.endsWith('.db'));
  const daily = (await readdir(path.join(base.backups, 'daily'))).find((name) => name.endsWith('.db.gz'));
  if (!manual || !daily) throw new Error('fixture: the template backups are missing');
  // The live database moves on from the backups: restore and restore-table then change something.
  await sqlExec(
    base.db,
    `UPDATE orders SET amount = amount + 1 WHERE id % 7 = 0;
     DELETE FROM orders WHERE id % 50 = 0;
     INSERT INTO customers (id, name, email) VALUES (${CUSTOMERS + 1}, 'late customer', 'late@example.com');
     PRAGMA journal_mode = DELETE;`,
  );
  const applied = {} as Record<MigrationSet, ProjectPaths>;
  for (const set of ['group', 'per-migration'] as const) {
    const project = projectPaths(path.join(root, `template-${set}`));
    await rm(project.dir, { recursive: true, force: true });
    await cp(base.dir, project.dir, { recursive: true });
    await writeFiles(project.migrations, PENDING[set]);
    await mustRun(cli, project, ['migrate']);
    await sqlExec(project.db, 'PRAGMA journal_mode = DELETE;');
    applied[set] = project;
  }
  return {
    base,
    applied,
    manualBackup: path.join('manual', manual),
    dailyBackup: path.join('daily', daily),
  };
}
