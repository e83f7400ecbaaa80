import path from 'node:path';
import type { Knex } from 'knex';
import { GuardError } from '../../errors.ts';
import { PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { removeIfPresent, startsWith } from '../../fs/paths.ts';
import { redact } from '../../redact.ts';
import type { Engine, Reader } from '../contract.ts';
import type { EngineModule } from '../descriptor.ts';
import { postgresDescriptor } from './descriptor.ts';
import { pgCommitMark, pgCommittedSince, pgRemovedByRun } from './commits.ts';
import { PgConnection, quotePg, withPg } from './connection.ts';
import { pgContext, type PgEngineOptions } from './context.ts';
import { pgForeignKeyViolationsOf, pgIntegrity } from './integrity.ts';
import { acquirePgLock } from './lock.ts';
import { restorePgDump } from './restore.ts';
import { pgLockFindings } from './review.ts';
import { inspectPg, listPgTables, pgColumns, readPgFacts } from './schema.ts';
import { sweepScratchDatabases } from './scratch.ts';
import { pgRehearsal, pgSnapshot, provePgDump, readPgDump } from './snapshot.ts';
import { splitPostgresSql } from './sql-split.ts';
import { pgStatementFailure, runPgStatement } from './statement.ts';
import { exportPgTable, replacePgTable } from './table.ts';
import { pgRestorePoints } from './restore-point.ts';

/** How the registry builds PostgreSQL engines (see postgresDescriptor.load). */
export const postgresModule: EngineModule = {
  engine: (database, options) =>
    postgresEngine(database, { stateDir: path.resolve(options.stateDir ?? 'backups'), directUrl: options.directUrl }),
  // A dump is proven by restoring it on a server: the one the live database is on, since its
  // manifest keeps the URL without its password.
  backupEngine(source, live, options) {
    if (live === undefined || live.kind !== postgresDescriptor.kind)
      throw new GuardError(
        'USAGE',
        `${source} is a PostgreSQL dump: it is proven on a PostgreSQL server; give the database (--db / DATABASE_URL)`,
      );
    return postgresModule.engine(live.database, options);
  },
};

const DUMP_MAGIC = Buffer.from('PGDMP', 'latin1');

/**
 * The PostgreSQL engine for one database, as its URL names it. A snapshot is a
 * `pg_dump --format=custom` taken in a transaction whose facts are read alongside; it is proven
 * by `pg_restore --single-transaction --exit-on-error` into a scratch database whose facts must
 * equal them (snapshot.ts). The run's files (journal, pre-restore dumps) live in `stateDir`: a
 * server has no "beside the database".
 *
 * `databaseUrl` finds and names the database (its backups' names, the manifest's source);
 * every connection goes to `directUrl` when there is one: the server itself, when `databaseUrl`
 * goes through a pooler (see pooler.ts). A step that needs a server session of its own (the
 * lock, a dump, a restore, a scratch database) first proves the URL gives one, once per engine.
 * This file only assembles the engine from its parts.
 */
export function postgresEngine(databaseUrl: string, options: PgEngineOptions): Engine {
  const context = pgContext(databaseUrl, options, postgresEngine);
  const { url, source, name, database, stateDir, maintenance } = context;

  const engine: Engine = {
    kind: postgresDescriptor.kind,
    name,
    labels: postgresDescriptor.labels,
    snapshotLabel: postgresDescriptor.labels.snapshot,
    snapshotExtension: '.dump',
    pointInTimeAdvice:
      'PostgreSQL point-in-time recovery belongs to the server: archive its WAL with pgBackRest or WAL-G (see the README: "PostgreSQL"); migrate-guard restores its verified dumps',
    sidecar: (suffix) => path.join(stateDir, `${database}.${suffix}`),
    async identity() {
      // The cluster's own identifier: another host name, port or user for the same cluster is the
      // same database. Read from the maintenance database when this one does not exist (yet).
      const read = (target: string) =>
        withPg(
          target,
          async (connection) =>
            (await connection.all<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]?.id ?? null,
        );
      let systemIdentifier: string | null;
      try {
        systemIdentifier = await read(url).catch(async (error: unknown) => {
          if ((error as { code?: string }).code === '3D000') return read(maintenance);
          throw error;
        });
      } catch (error) {
        throw new GuardError(
          'USAGE',
          `cannot connect to ${name}: ${(error as Error).message}; check DATABASE_URL and that the server runs`,
          { cause: error },
        );
      }
      return { path: null, systemIdentifier, database };
    },

    async probe() {
      let connection: PgConnection;
      try {
        connection = await PgConnection.open(url);
      } catch (error) {
        if ((error as { code?: string }).code === '3D000') return 'missing';
        throw new GuardError(
          'USAGE',
          `cannot connect to ${redact(url)}: ${(error as Error).message}; check ${source} and that the server runs`,
          { cause: error },
        );
      }
      // A database that exists is ready, tables or not ('empty' is a SQLite file of zero bytes).
      await connection.close();
      return 'ready';
    },
    create: () => withPg(maintenance, (connection) => connection.exec(`CREATE DATABASE ${quotePg(database)}`)),
    async size() {
      return withPg(url, async (connection) =>
        Number((await connection.all<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes'))[0]?.bytes ?? 0),
      );
    },
    // A dump holds every row: only its owner reads it (there is no database file to take bits from).
    fileMode: async () => PRIVATE_FILE_MODE,
    async lock(command) {
      await context.requireSession();
      const lock = await acquirePgLock(url, database, command, source);
      // A SIGKILLed run's scratch databases (each a whole copy of the data) are dropped by the next
      // run that locks, not only by the next that makes one: the recovery of a killed `down`
      // restores its backup and makes none, and neither may the runs after it (the torture found
      // one left). Best effort: a sweep that fails leaves them for the next run.
      await withPg(maintenance, sweepScratchDatabases).catch(() => undefined);
      return lock;
    },
    // The server recovers after a crash before it accepts connections: nothing to do on our side.
    settle: async () => undefined,

    read: (mode, work) =>
      withPg(url, async (connection) => {
        // A read-only transaction writes nothing, and sees one consistent state throughout.
        if (mode === 'readwrite') return work(connection);
        await connection.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        try {
          return await work(connection);
        } finally {
          await connection.exec('ROLLBACK').catch(() => undefined);
        }
      }),
    reader: (knex: Knex): Reader => ({
      all: async (sql, bindings = []) => ((await knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: never[] }).rows,
    }),
    openKnex: async () => (await import('./knex.ts')).openPgKnex(url),
    transactionalDdl: true,
    // Loaded on first use, like the client tools.
    async lockPolicy(knex, timeoutMs) {
      if (timeoutMs <= 0) return null;
      return (await import('./lock-timeout.ts')).pgLockPolicy(knex, timeoutMs);
    },
    async longTransactions(reader, olderThanMs) {
      if (olderThanMs <= 0) return [];
      return (await import('./lock-timeout.ts')).longTransactions(reader, olderThanMs);
    },
    splitSql: splitPostgresSql,
    runSqlStatement: runPgStatement,
    statementFailure: pgStatementFailure,

    snapshot: (target, onProgress, provenWith) => pgSnapshot(context, target, onProgress, provenWith),
    isSnapshot: (file) => startsWith(file, DUMP_MAGIC),
    proveSnapshot: (file, applied, signal) => provePgDump(context, file, applied, signal),
    readSnapshot: (file, work) => readPgDump(context, file, work),
    restore: (snapshot, steps) =>
      restorePgDump(
        context,
        snapshot,
        steps,
        (target, progress) => pgSnapshot(context, target, progress).then(() => undefined),
        (work) => engine.read('readonly', work),
      ),
    discardSnapshot: removeIfPresent,

    // Owned by the restore role, so what is restored into it (a drill) runs as that role too.
    scratch: async () => context.scratchDatabase((await context.roles()).role),
    rehearsal: (folder) => pgRehearsal(context, folder),

    integrity: pgIntegrity,
    foreignKeyViolations: pgForeignKeyViolationsOf,
    listTables: listPgTables,
    commitMark: pgCommitMark,
    committedSince: pgCommittedSince,
    removedByRun: (reader, _mark, table, before, now) => pgRemovedByRun(url, reader, table, before, now),
    // PostgreSQL refuses to drop a table others reference (unless CASCADE, which drops the key, not rows).
    dropCascades: async () => null,
    columns: pgColumns,
    facts: readPgFacts,
    inspect: inspectPg,
    quote: quotePg,
    lockWarnings: pgLockFindings,

    exportTable: (snapshot, table, out, header) => exportPgTable(context, snapshot, table, out, header),
    replaceTable: (snapshot, table, force) => replacePgTable(context, snapshot, table, force),

    manualRestore: (backup) => `pg_restore --clean --if-exists --single-transaction --no-owner --dbname '${redact(url)}' '${backup}'`,
    damage(error) {
      const code = (error as { code?: string }).code;
      return code === 'XX001' || code === 'XX002' ? code : null;
    },

    // backups.method 'restore-point' (see restore-point.ts); a restored copy is read as a database of its own.
    restorePoints: pgRestorePoints(url, name, database, (restored) => postgresEngine(restored, { stateDir, sessionProven: true })),
  };
  return engine;
}
