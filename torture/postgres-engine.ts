/**
 * The torture on PostgreSQL: the same project as on SQLite (customers and orders with a foreign
 * key, the two pending sets, the writer's two tables), written in PostgreSQL's SQL; every case
 * gets a database of its own (`CREATE DATABASE … TEMPLATE`, dropped after the case) and a copy of
 * the template's backup folder, whose backups are renamed to the case's database (backups belong
 * to one database, by name). What must hold in PostgreSQL's words: no invalid index or NOT VALID
 * constraint, no row breaking a foreign key; no scratch database of a case's process, no advisory
 * lock and no session left on the server once its processes ended.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type pg from 'pg';
import type { Case } from './case.ts';
import { COMMANDS, type CommandSpec } from './commands.ts';
import { PAIRS } from './concurrency.ts';
import { DISK_COMMANDS } from './disk.ts';
import type { Inspection, TortureEngine } from './engine.ts';
import { ORDERS, projectPaths, writeFiles, WRITER_TABLES, type MigrationSet, type ProjectPaths, type Templates } from './fixture.ts';
import {
  createDatabase,
  dropDatabase,
  PG_SERVER,
  pgDatabaseOf,
  pgRows,
  pgUrl,
  quoteIdent,
  tortureDatabaseName,
  withPgClient,
} from './pg.ts';
import { startPgWriter } from './pg-writer.ts';
import type { Cli } from './proc.ts';
import { folderBytes } from './sqlite-engine.ts';

const run = promisify(execFile);
const CUSTOMERS = 1_000;

const BASE: Record<string, string> = {
  '001_schema.sql': `
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), amount INTEGER NOT NULL, note TEXT NOT NULL);
CREATE INDEX orders_customer ON orders (customer_id);
`,
  '001_schema.down.sql': 'DROP TABLE orders;\nDROP TABLE customers;\n',
  '002_seed.sql': `
INSERT INTO customers (id, name, email) SELECT x, 'customer ' || x, 'c' || x || '@example.com' FROM generate_series(1, ${CUSTOMERS}) x;
INSERT INTO orders (id, customer_id, amount, note)
  SELECT x, 1 + (x * 7919) % ${CUSTOMERS}, (x::bigint * 104729) % 100000, md5(x::text) || md5((x + 1)::text) || substr(md5((x + 2)::text), 1, 32)
    FROM generate_series(1, ${ORDERS}) x;
`,
  '002_seed.down.sql': 'DELETE FROM orders;\nDELETE FROM customers;\n',
};

/** As on SQLite: a data migration in batches with pauses, not idempotent (amounts move by one). */
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

const PENDING: Readonly<Record<MigrationSet, Record<string, string>>> = {
  group: pendingSet(true),
  'per-migration': pendingSet(false),
};

const WRITER_SCHEMA = `
CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, tag TEXT NOT NULL UNIQUE, v BYTEA);
CREATE TABLE journal_entries (id BIGSERIAL PRIMARY KEY, tag TEXT NOT NULL UNIQUE REFERENCES ledger (tag), v BYTEA);
`;

const CONFIG = 'export default {};\n';

const isSideTable = (name: string) => (WRITER_TABLES as readonly string[]).includes(name);

/** The database a case's project runs on: its URL is the project's `db`. */
const databaseOf = (project: ProjectPaths) => pgDatabaseOf(project.db);

function templateOf(templates: Templates, spec: CommandSpec): ProjectPaths {
  return spec.template === 'base' ? templates.base : templates.applied[spec.template];
}

async function mustRun(cli: Cli, project: ProjectPaths, args: string[]): Promise<void> {
  const result = await cli.run(project, args);
  if (result.exitCode !== 0)
    throw new Error(`fixture: migrate-guard ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.slice(-800)}`);
}

/**
 * Backups belong to one database by name (their file names start with it, their manifests record
 * it): a copied backup folder's are renamed from `from` to `to`, as if `to` had taken them. Their
 * bytes are unchanged (a dump does not depend on the database's name), so their proofs hold.
 */
async function adoptBackups(folder: string, from: string, to: string): Promise<void> {
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.startsWith(`${from}_`)) continue;
    const renamed = `${to}_${entry.name.slice(from.length + 1)}`;
    const file = path.join(entry.parentPath, entry.name);
    if (entry.name.endsWith('.manifest.json')) {
      const manifest = JSON.parse(await readFile(file, 'utf8')) as {
        file: string;
        source: string;
        identity?: { database?: string | null } | null;
      };
      manifest.file = `${to}_${manifest.file.slice(from.length + 1)}`;
      manifest.source = manifest.source.replace(new RegExp(`/${from}$`), `/${to}`);
      if (manifest.identity?.database === from) manifest.identity = { ...manifest.identity, database: to };
      await writeFile(path.join(entry.parentPath, renamed), JSON.stringify(manifest, null, 2), { mode: 0o600 });
      await rm(file);
    } else {
      await rename(file, path.join(entry.parentPath, renamed));
    }
  }
}

/** A copy of `template` (its database and folder) at `dir`, on a database named for `label`. */
async function copyTemplate(template: ProjectPaths, dir: string, label: string): Promise<ProjectPaths> {
  const name = tortureDatabaseName(label);
  await createDatabase(name, databaseOf(template));
  await rm(dir, { recursive: true, force: true });
  await cp(template.dir, dir, { recursive: true });
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  const project = { ...projectPaths(dir), db: pgUrl(name) };
  await adoptBackups(project.backups, databaseOf(template), name);
  return project;
}

async function buildTemplates(root: string, cli: Cli): Promise<Templates> {
  const name = tortureDatabaseName('template_base');
  await createDatabase(name);
  const base = { ...projectPaths(path.join(root, 'template-base')), db: pgUrl(name) };
  await rm(base.dir, { recursive: true, force: true });
  await writeFiles(base.dir, { 'package.json': '{ "type": "module" }\n', 'migrate-guard.config.mjs': CONFIG });
  await writeFiles(base.migrations, BASE);
  await mustRun(cli, base, ['migrate']);
  await pgRows(base.db, WRITER_SCHEMA);
  // Backups of several kinds (what prune sorts out, what drill and restore read), all of one state.
  for (const kind of ['daily', 'daily', 'daily', 'hot', 'hot']) await mustRun(cli, base, ['backup', '--kind', kind]);
  await mustRun(cli, base, ['backup', '--kind', 'manual']);
  const manual = (await readdir(path.join(base.backups, 'manual'))).find((file) => file.endsWith('.dump'));
  const daily = (await readdir(path.join(base.backups, 'daily'))).find((file) => file.endsWith('.dump.gz'));
  if (!manual || !daily) throw new Error('fixture: the template backups are missing');
  // The live database moves on from the backups: restore and restore-table then change something.
  await pgRows(
    base.db,
    `UPDATE orders SET amount = amount + 1 WHERE id % 7 = 0;
     DELETE FROM orders WHERE id % 50 = 0;
     INSERT INTO customers (id, name, email) VALUES (${CUSTOMERS + 1}, 'late customer', 'late@example.com');`,
  );
  const applied = {} as Record<MigrationSet, ProjectPaths>;
  for (const set of ['group', 'per-migration'] as const) {
    const project = await copyTemplate(base, path.join(root, `template-${set}`), `template_${set}`);
    await writeFiles(project.migrations, PENDING[set]);
    await mustRun(cli, project, ['migrate']);
    applied[set] = project;
  }
  return { base, applied, manualBackup: path.join('manual', manual), dailyBackup: path.join('daily', daily) };
}

/**
 * The logical content: every column, index, constraint, view, trigger and sequence of the public
 * schema, then every table's rows (as JSON, ordered), without the writer's tables and without the
 * history's timestamps and durations. Sequence positions are left out: `nextval` is not
 * transactional, so a rolled-back insert moves a sequence on.
 */
async function contentHashOf(client: pg.Client): Promise<string> {
  const hash = createHash('sha256');
  const lines = async (sql: string) => (await client.query<{ tbl: string; line: string }>(sql)).rows.filter((row) => !isSideTable(row.tbl));
  const schema = [
    ...(await lines(`SELECT table_name AS tbl, 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS line
                       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)),
    ...(await lines(
      "SELECT tablename AS tbl, 'index ' || indexname || ': ' || indexdef AS line FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    )),
    ...(await lines(`SELECT conrelid::regclass::text AS tbl, 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid) AS line
                       FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 2`)),
    ...(await lines(
      "SELECT viewname AS tbl, 'view ' || viewname || ': ' || definition AS line FROM pg_views WHERE schemaname = 'public' ORDER BY viewname",
    )),
    ...(await lines(`SELECT c.relname AS tbl, 'trigger ' || pg_get_triggerdef(t.oid) AS line FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                      WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace ORDER BY 2`)),
    ...(await lines(`SELECT coalesce(d.refobjid::regclass::text, '') AS tbl, 'sequence ' || s.relname AS line
                       FROM pg_class s LEFT JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' AND d.classid = 'pg_class'::regclass
                      WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace ORDER BY 2`)),
  ];
  for (const { line } of schema) hash.update(`${line}\n`);
  const tables = await lines("SELECT tablename AS tbl, tablename AS line FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  for (const { tbl } of tables) {
    const select =
      tbl === 'migrate_guard_migrations'
        ? `SELECT json_build_object('name', name, 'checksum', checksum)::text AS line FROM migrate_guard_migrations ORDER BY name`
        : `SELECT row_to_json(t)::text AS line FROM ${quoteIdent(tbl)} t ORDER BY 1`;
    for (const row of (await client.query<{ line: string }>(select)).rows) hash.update(`${tbl} ${row.line}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/** A few facts that tell a wrong state at a glance: applied migrations, tables, row counts. */
async function describeState(client: pg.Client): Promise<string> {
  const applied = await client
    .query<{ name: string }>('SELECT name FROM migrate_guard_migrations ORDER BY name')
    .then((result) => result.rows.map((row) => row.name))
    .catch(() => []);
  const tables = (await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
    .rows;
  const counts: string[] = [];
  for (const { name } of tables) {
    const [row] = (await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(name)}`)).rows;
    counts.push(`${name}=${row?.n}`);
  }
  const columns = (
    await client.query<{ name: string }>(
      "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'orders' ORDER BY ordinal_position",
    )
  ).rows;
  return `applied [${applied.join(' ')}], rows ${counts.join(' ')}, orders columns ${columns.map((c) => c.name).join(',')}`;
}

/** Rows breaking a single-column foreign key, per constraint (PostgreSQL enforces them, unless a restore turned that off). */
async function foreignKeyViolations(client: pg.Client): Promise<string[]> {
  const keys = (
    await client.query<{ name: string; child: string; column: string; parent: string; key: string }>(
      `SELECT k.conname AS name, c.relname AS child, ca.attname AS column, p.relname AS parent, pa.attname AS key
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
         JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = k.conkey[1]
         JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
        WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace AND cardinality(k.conkey) = 1`,
    )
  ).rows;
  const found: string[] = [];
  for (const key of keys) {
    const [row] = (
      await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${quoteIdent(key.child)} c WHERE c.${quoteIdent(key.column)} IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM ${quoteIdent(key.parent)} p WHERE p.${quoteIdent(key.key)} = c.${quoteIdent(key.column)})`,
      )
    ).rows;
    if (Number(row?.n) > 0) found.push(`${key.child}.${key.name}: ${row?.n} rows`);
  }
  return found;
}

/** The tags of the writer's `ledger` in a dump, read from its data as pg_restore prints it (no database needed). */
async function dumpLedgerTags(file: string): Promise<Set<string>> {
  const { stdout } = await run('pg_restore', ['--data-only', '--table=ledger', '--file', '-', file], { maxBuffer: 256 << 20 });
  const tags = new Set<string>();
  let inCopy = false;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('COPY ') && /\bledger\b/.test(line)) inCopy = true;
    else if (line === '\\.') inCopy = false;
    else if (inCopy) {
      const tag = line.split('\t')[1];
      if (tag !== undefined) tags.add(tag);
    }
  }
  return tags;
}

/** Scratch databases (src/engines/postgres/scratch.ts) by the pid of the run that made them. */
const SCRATCH = /^migrate_guard_scratch_[0-9a-f]{8}_(\d+)_[0-9a-f]{8}$/;

async function settledSessions(database: string): Promise<{ pid: number; application_name: string; state: string; query: string }[]> {
  // A killed client's backend notices the closed socket at its next read: give it a moment.
  let sessions: { pid: number; application_name: string; state: string; query: string }[] = [];
  for (let attempt = 0; attempt < 30; attempt += 1) {
    sessions = await pgRows(
      PG_SERVER,
      `SELECT pid, application_name, state, left(query, 160) AS query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    if (sessions.length === 0) return [];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return sessions;
}

export const postgresTorture: TortureEngine = {
  name: 'postgres',
  // `archive` is the server's WAL archiving on PostgreSQL (it only says so).
  commands: COMMANDS.map((spec) => spec.name).filter((name) => name !== 'archive'),
  diskCommands: DISK_COMMANDS,
  pairs: PAIRS.filter((pair) => pair !== 'restore during archive'),

  async unavailable(log) {
    try {
      await pgRows(PG_SERVER, 'SELECT 1');
      await run('pg_restore', ['--version']);
    } catch (error) {
      throw new Error(
        `the PostgreSQL torture needs a server at ${PG_SERVER} (MIGRATE_GUARD_TORTURE_PG) and pg_restore: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    log(`postgres: ${PG_SERVER}, a database per case (CREATE DATABASE … TEMPLATE), dropped after it`);
    return new Set();
  },
  buildTemplates,
  async prepare(templates, spec, dir) {
    const project = await copyTemplate(templateOf(templates, spec), dir, path.basename(dir));
    if (spec.pending) await writeFiles(project.migrations, PENDING[spec.pending]);
    return project;
  },
  dispose: (project) => dropDatabase(databaseOf(project)),
  async close(templates) {
    for (const project of [templates.base, ...Object.values(templates.applied)]) await dropDatabase(databaseOf(project));
  },
  // One kind of database: nothing drawn.
  vary: async () => undefined,
  contentHash: (project) => withPgClient(project.db, contentHashOf),
  async snapshotContentHash(file, compressed, tmp) {
    const name = tortureDatabaseName('check');
    let plain = file;
    if (compressed) {
      plain = path.join(tmp, `snapshot-check-${process.pid}.dump`);
      await writeFile(plain, gunzipSync(await readFile(file)));
    }
    await createDatabase(name);
    try {
      await run('pg_restore', ['--exit-on-error', '--no-owner', '--dbname', pgUrl(name), plain]);
      return await withPgClient(pgUrl(name), contentHashOf);
    } finally {
      await dropDatabase(name);
      if (plain !== file) await rm(plain, { force: true });
    }
  },
  inspect: (project) =>
    withPgClient(project.db, async (client): Promise<Inspection> => {
      const problems: { invariant: string; detail: string }[] = [];
      const invalid = (
        await client.query<{ name: string }>(
          "SELECT indexrelid::regclass::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE NOT i.indisvalid AND c.relnamespace = 'public'::regnamespace",
        )
      ).rows;
      if (invalid.length > 0) problems.push({ invariant: 'no index is left invalid', detail: invalid.map((row) => row.name).join(', ') });
      const notValid = (
        await client.query<{ name: string }>(
          "SELECT conrelid::regclass::text || '.' || conname AS name FROM pg_constraint WHERE NOT convalidated AND connamespace = 'public'::regnamespace",
        )
      ).rows;
      if (notValid.length > 0)
        problems.push({ invariant: 'no constraint is left NOT VALID', detail: notValid.map((row) => row.name).join(', ') });
      const broken = await foreignKeyViolations(client);
      if (broken.length > 0) problems.push({ invariant: 'no row breaks a foreign key', detail: broken.join('; ') });
      const torn = (
        await client.query<{ tag: string }>(
          'SELECT tag FROM ledger WHERE tag NOT IN (SELECT tag FROM journal_entries) UNION ALL SELECT tag FROM journal_entries WHERE tag NOT IN (SELECT tag FROM ledger) LIMIT 5',
        )
      ).rows;
      const tags = new Set((await client.query<{ tag: string }>('SELECT tag FROM ledger')).rows.map((row) => row.tag));
      return { problems, hash: await contentHashOf(client), tags, torn: torn.map((row) => row.tag), state: await describeState(client) };
    }),
  async preRestoreTags(project) {
    const prefix = `${databaseOf(project)}.pre-restore.`;
    const copies = (await readdir(project.backups).catch((): string[] => []))
      .filter((name) => name.startsWith(prefix))
      .map((name) => path.join(project.backups, name));
    const tags = new Set<string>();
    for (const copy of copies) for (const tag of await dumpLedgerTags(copy).catch(() => new Set<string>())) tags.add(tag);
    return { copies: copies.length, tags };
  },
  // A server has no "beside the database": the journal and pre-restore dumps live in the backup folder.
  preRestoreWatch: (project) => ({ folder: project.backups, prefix: `${databaseOf(project)}.pre-restore.` }),
  journalOf: (project) => path.join(project.backups, `${databaseOf(project)}.migrate-guard.journal.json`),
  startWriter: (project, idsFile, prefix, seed, pace) => startPgWriter(project.db, idsFile, prefix, seed, pace),
  async checkLeftovers(kase: Case, stage: string) {
    const database = databaseOf(kase.project);
    const pids = new Set(kase.processes.map((p) => p.pid));
    const scratch = await pgRows<{ datname: string }>(
      PG_SERVER,
      "SELECT datname FROM pg_database WHERE starts_with(datname, 'migrate_guard_scratch_') ORDER BY datname",
    );
    const orphans = scratch.filter(({ datname }) => pids.has(Number(SCRATCH.exec(datname)?.[1])));
    if (orphans.length > 0) {
      const made = orphans.map(({ datname }) => {
        const pid = Number(SCRATCH.exec(datname)?.[1]);
        const by = kase.processes.find((p) => p.pid === pid);
        return `${datname} (made by ${by?.label ?? '?'}, ${by?.killedAt !== null && by?.killedAt !== undefined ? `SIGKILLed after ${by.killedAt} ms` : `exit ${by?.exitCode}`})`;
      });
      kase.violate('no orphaned scratch database is left', `${stage}: ${made.join(', ')}`);
    }
    const sessions = await settledSessions(database);
    if (sessions.length > 0)
      kase.violate(
        'no session is left on the database',
        `${stage}: ${sessions.map((s) => `pid ${s.pid} ${s.application_name || '?'} ${s.state}: ${s.query}`).join('; ')}`,
      );
    const locks = await pgRows<{ pid: number; objid: string }>(
      PG_SERVER,
      "SELECT pid, objid::text FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = $1)",
      [database],
    );
    if (locks.length > 0)
      kase.violate(
        'no advisory lock is left',
        `${stage}: ${locks.map((lock) => `held by backend ${lock.pid} (objid ${lock.objid})`).join(', ')}`,
      );
  },
  // The message names the server process holding the lock and what it runs, not the client's pid.
  namesHolder: (message) => /another migrate-guard run holds the lock .*migrate-guard migrate/.test(message),
  async sizes(template) {
    const manual = (await readdir(path.join(template.backups, 'manual'))).find((name) => /^[^.].*\.dump$/.test(name));
    const daily = (await readdir(path.join(template.backups, 'daily'))).find((name) => /^[^.].*\.dump\.gz$/.test(name));
    return {
      snapshotBytes: manual ? (await stat(path.join(template.backups, 'manual', manual))).size : 1 << 20,
      gzipBytes: daily ? (await stat(path.join(template.backups, 'daily', daily))).size : 1 << 20,
      movedBytes: await folderBytes(template.backups),
      // The preflight wants twice the database's size free in the backup folder.
      headroomBytes:
        2 * Number((await pgRows<{ bytes: string }>(template.db, 'SELECT pg_database_size(current_database()) AS bytes'))[0]?.bytes ?? 0),
    };
  },
  async moveOnDisk(template, diskDir) {
    const project = { ...template, backups: path.join(diskDir, 'backups') };
    await cp(template.backups, project.backups, { recursive: true });
    await rm(template.backups, { recursive: true });
    await mkdir(path.join(diskDir, 'tmp'));
    return { project, place: { project, tmp: path.join(diskDir, 'tmp') } };
  },
};
