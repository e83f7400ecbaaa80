import { randomBytes } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { PgConnection, withPg } from '../../src/engines/postgres/connection.ts';
import { withDatabase } from '../../src/engines/postgres/url.ts';
import { dump as sqliteDump, exec as sqliteExec, query as sqliteQuery } from './project.ts';

/**
 * A database a CLI test runs against, whatever its engine: what `DATABASE_URL` says, how to run
 * SQL on it as the application would, its logical content for equality, and how to throw it away.
 */
export interface TestDatabase {
  /** What the CLI gets as `DATABASE_URL`. */
  readonly url: string;
  /** The database's own name: the stem of its backup files (`<name>_<kind>_<stamp>`). */
  readonly name: string;
  /** Runs SQL (several statements) and commits, as the application would. */
  exec(sql: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Schema and every row of every table, in a stable order: equal dumps, equal databases. */
  dump(): Promise<string>;
  /** The application's tables, sorted. */
  tables(): Promise<string[]>;
  /** Runs `sql` against what a snapshot file (a backup, a pre-restore copy) holds. */
  querySnapshot<T = Record<string, unknown>>(file: string, sql: string): Promise<T[]>;
  drop(): Promise<void>;
}

/** The PostgreSQL server the tests use (trust authentication); its `postgres` database is the maintenance one. */
export const PG_SERVER = process.env.MIGRATE_GUARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database name no other test (or worker) uses. */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** A copy of the SQLite database `template` at `file`. */
export async function sqliteCopy(template: TestDatabase, file: string): Promise<TestDatabase> {
  await copyFile(template.url, file);
  return sqliteDatabase(file);
}

/** The SQLite file `file` (not created: the first `migrate` creates it, as on a fresh install). */
export function sqliteDatabase(file: string): TestDatabase {
  return {
    url: file,
    name: path.basename(file, path.extname(file)),
    exec: (sql) => sqliteExec(file, sql),
    query: (sql) => sqliteQuery(file, sql),
    dump: () => sqliteDump(file),
    async tables() {
      const rows = await sqliteQuery<{ name: string }>(
        file,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      );
      return rows.map((row) => row.name);
    },
    querySnapshot: (snapshot, sql) => sqliteQuery(snapshot, sql),
    // The file lives in the project's folder, which the test removes.
    drop: async () => undefined,
  };
}

/**
 * A new PostgreSQL database of its own (`CREATE DATABASE`: empty, or a copy of `template`, which
 * no session may be connected to), dropped with `WITH (FORCE)` by `drop`. Its logical dump is read from the catalogs, not with pg_dump (what is tested).
 */
export async function postgresDatabase(prefix = 'mg_cli', options: { readonly template?: TestDatabase } = {}): Promise<TestDatabase> {
  const name = uniqueDatabaseName(prefix);
  const template = options.template ? ` TEMPLATE "${options.template.name}"` : '';
  await withPg(PG_SERVER, (connection) => connection.exec(`CREATE DATABASE "${name}"${template}`));
  const url = withDatabase(PG_SERVER, name);
  return pgDatabaseAt(url, name);
}

function pgDatabaseAt(url: string, name: string): TestDatabase {
  const query = <T>(sql: string) => withPg(url, (connection) => connection.all<T>(sql));
  return {
    url,
    name,
    exec: (sql) => withPg(url, (connection) => connection.exec(sql)),
    query,
    dump: () => withPg(url, (connection) => pgLogicalDump((sql) => connection.all(sql))),
    async tables() {
      return (await query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map(
        (row) => row.name,
      );
    },
    async querySnapshot<T>(file: string, sql: string) {
      const scratch = await postgresDatabase('mg_cli_snapshot');
      try {
        const restored = await execa('pg_restore', ['--exit-on-error', '--no-owner', '--dbname', scratch.url, file], {
          reject: false,
          all: true,
        });
        if (restored.exitCode !== 0) throw new Error(`pg_restore of ${file} failed: ${restored.all}`);
        return await scratch.query<T>(sql);
      } finally {
        await scratch.drop();
      }
    },
    drop: () => withPg(PG_SERVER, (connection) => connection.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}

/**
 * Columns, indexes, constraints, views, triggers and sequences of the `public` schema, then every
 * row of every table (as JSON, ordered). Sequence positions are left out: `nextval` is not
 * transactional in PostgreSQL, so a rolled-back insert moves a sequence on (a gap in the ids, no
 * difference in the data).
 */
async function pgLogicalDump(all: (sql: string) => Promise<Record<string, unknown>[]>): Promise<string> {
  const lines = async (sql: string) => (await all(sql)).map((row) => String(row.line));
  const schema = [
    ...(await lines(`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS line
                       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)),
    ...(await lines(
      "SELECT 'index ' || indexname || ': ' || indexdef AS line FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    )),
    ...(await lines(`SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid) AS line
                       FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`)),
    ...(await lines(
      "SELECT 'view ' || viewname || ': ' || definition AS line FROM pg_views WHERE schemaname = 'public' ORDER BY viewname",
    )),
    ...(await lines(`SELECT 'trigger ' || pg_get_triggerdef(t.oid) AS line FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                      WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace ORDER BY 1`)),
    ...(await lines("SELECT 'sequence ' || sequencename AS line FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename")),
  ];
  const tables = await lines("SELECT tablename AS line FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  for (const table of tables) {
    const quoted = `"${table.replaceAll('"', '""')}"`;
    for (const row of await lines(`SELECT row_to_json(t)::text AS line FROM ${quoted} t ORDER BY 1`)) schema.push(`${table} ${row}`);
  }
  return schema.join('\n');
}

/** One kind of lock seen on a database, and in how many samples. */
export interface LockSeen {
  readonly locktype: string;
  readonly mode: string;
  /** The locked relation's name (resolved after the sampling), or null for a lock on no relation. */
  readonly relation: string | null;
  readonly application: string;
  readonly samples: number;
}

/**
 * Samples `pg_locks` for the database `name` every `everyMs` while `work` runs, from a session on
 * the maintenance database (its own lock on the pg_locks view is taken there, not on `name`):
 * every lock any other session holds or waits for on `name`, grouped by type, mode, relation and
 * application.
 */
export async function sampleLocks<T>(
  db: TestDatabase,
  work: () => Promise<T>,
  everyMs = 20,
): Promise<{ result: T; samples: number; seen: LockSeen[] }> {
  const watcher = await PgConnection.open(PG_SERVER);
  const counts = new Map<string, { locktype: string; mode: string; relation: number | null; application: string; samples: number }>();
  let samples = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const rows = await watcher.all<{ locktype: string; mode: string; relation: number | null; application: string | null }>(
        `SELECT l.locktype, l.mode, l.relation::bigint AS relation, a.application_name AS application
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.database = (SELECT oid FROM pg_database WHERE datname = ?) AND l.pid <> pg_backend_pid()`,
        [db.name],
      );
      samples += 1;
      for (const row of rows) {
        const application = row.application ?? '?';
        const key = JSON.stringify([row.locktype, row.mode, row.relation, application]);
        const entry = counts.get(key) ?? {
          locktype: row.locktype,
          mode: row.mode,
          relation: row.relation === null ? null : Number(row.relation),
          application,
          samples: 0,
        };
        entry.samples += 1;
        counts.set(key, entry);
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  try {
    let result: T;
    try {
      result = await work();
    } finally {
      done = true;
      // A sampling query that failed fails the test: no sample is not "no lock".
      await sampling;
    }
    return { result, samples, seen: await named([...counts.values()]) };
  } finally {
    await watcher.close();
  }

  async function named(
    entries: readonly { locktype: string; mode: string; relation: number | null; application: string; samples: number }[],
  ): Promise<LockSeen[]> {
    const oids = entries.flatMap((entry) => (entry.relation === null ? [] : [entry.relation]));
    const names = new Map<number, string>();
    if (oids.length > 0) {
      const rows = await db.query<{ oid: string; name: string }>(
        `SELECT oid::bigint AS oid, oid::regclass::text AS name FROM pg_class WHERE oid IN (${oids.join(', ')})`,
      );
      for (const row of rows) names.set(Number(row.oid), row.name);
    }
    return entries
      .map((entry) => ({ ...entry, relation: entry.relation === null ? null : (names.get(entry.relation) ?? `oid ${entry.relation}`) }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
}

/** The MariaDB (or MySQL) server the tests use: root without a password. */
export const MY_SERVER = process.env.MIGRATE_GUARD_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

/** A connection to the test server (`database` null: none selected), several statements a query allowed. */
async function myConnect(database: string | null) {
  const { createConnection } = await import('mysql2/promise');
  const server = new URL(MY_SERVER);
  return createConnection({
    host: server.hostname,
    port: Number(server.port || 3306),
    user: decodeURIComponent(server.username || 'root'),
    ...(server.password ? { password: decodeURIComponent(server.password) } : {}),
    ...(database === null ? {} : { database }),
    multipleStatements: true,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
}

async function withMyTest<T>(database: string | null, work: (connection: Awaited<ReturnType<typeof myConnect>>) => Promise<T>): Promise<T> {
  const connection = await myConnect(database);
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

/** The client tools' connection options for the test server (no password on it). */
function myToolArgs(): string[] {
  const server = new URL(MY_SERVER);
  return [
    `--host=${server.hostname}`,
    `--port=${server.port || 3306}`,
    '--protocol=TCP',
    `--user=${decodeURIComponent(server.username || 'root')}`,
  ];
}

/**
 * A new MySQL/MariaDB database of its own (empty, or a copy of `template` made with mariadb-dump
 * piped into the client: MySQL has no CREATE DATABASE … TEMPLATE), dropped by `drop`.
 */
export async function mysqlDatabase(prefix = 'mg_mysql_cli', options: { readonly template?: TestDatabase } = {}): Promise<TestDatabase> {
  const name = uniqueDatabaseName(prefix);
  await withMyTest(null, (connection) => connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`));
  if (options.template) {
    const dump = execa('mariadb-dump', [
      ...myToolArgs(),
      '--single-transaction',
      '--routines',
      '--triggers',
      '--events',
      options.template.name,
    ]);
    await execa('mariadb', [...myToolArgs(), `--database=${name}`], { input: (await dump).stdout });
  }
  return myDatabaseAt(`${MY_SERVER}/${name}`, name);
}

function myDatabaseAt(url: string, name: string): TestDatabase {
  const query = <T>(sql: string) =>
    withMyTest(name, async (connection) => {
      const [rows] = await connection.query(sql);
      return (Array.isArray(rows) ? rows : []) as T[];
    });
  return {
    url,
    name,
    exec: (sql) => withMyTest(name, async (connection) => void (await connection.query(sql))),
    query,
    dump: () => myLogicalDump(query),
    async tables() {
      return (
        await query<{ name: string }>(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
        )
      ).map((row) => row.name);
    },
    async querySnapshot<T>(file: string, sql: string) {
      const scratch = await mysqlDatabase('mg_mysql_snapshot');
      try {
        const loaded = await execa('mariadb', [...myToolArgs(), '--binary-mode', `--database=${scratch.name}`], {
          inputFile: file,
          reject: false,
          all: true,
        });
        if (loaded.exitCode !== 0) throw new Error(`loading ${file} failed: ${loaded.all}`);
        return await scratch.query<T>(sql);
      } finally {
        await scratch.drop();
      }
    },
    drop: () => withMyTest(null, async (connection) => void (await connection.query(`DROP DATABASE IF EXISTS \`${name}\``))),
  };
}

/**
 * Columns, indexes, foreign keys, views and triggers of the database, then every row of every
 * table (as JSON, ordered). AUTO_INCREMENT counters are left out: a restore of a dump puts them
 * back, but a rolled-back insert moves them on (a gap in the ids, no difference in the data).
 */
async function myLogicalDump(query: <T>(sql: string) => Promise<T[]>): Promise<string> {
  const lines = async (sql: string) => (await query<{ line: string }>(sql)).map((row) => String(row.line));
  const schema = [
    ...(await lines(`SELECT CONCAT_WS(' ', 'column', table_name, column_name, column_type, is_nullable, COALESCE(column_default, 'NULL'), extra) AS line
                       FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position`)),
    ...(await lines(`SELECT CONCAT_WS(' ', 'index', table_name, index_name, non_unique, seq_in_index, column_name) AS line
                       FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY table_name, index_name, seq_in_index`)),
    ...(await lines(`SELECT CONCAT_WS(' ', 'key', table_name, constraint_name, column_name, referenced_table_name, referenced_column_name) AS line
                       FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL ORDER BY 1`)),
    ...(await lines(
      `SELECT CONCAT_WS(' ', 'view', table_name) AS line FROM information_schema.views WHERE table_schema = DATABASE() ORDER BY 1`,
    )),
    ...(await lines(
      `SELECT CONCAT_WS(' ', 'trigger', trigger_name, action_statement) AS line FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY 1`,
    )),
  ];
  const tables = await lines(
    "SELECT table_name AS line FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  for (const table of tables) {
    const rows = await query<Record<string, unknown>>(`SELECT * FROM \`${table.replaceAll('`', '``')}\``);
    for (const row of rows.map((entry) => JSON.stringify(entry)).sort()) schema.push(`${table} ${row}`);
  }
  return schema.join('\n');
}
