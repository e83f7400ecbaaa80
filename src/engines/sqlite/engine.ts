import { mkdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { fileModeFrom } from '../../fs/file-mode.ts';
import { GuardError } from '../../errors.ts';
import { isDatabaseBusy } from './busy-code.ts';
import type { EngineModule } from '../descriptor.ts';
import { sqliteDescriptor } from './descriptor.ts';
import { pathExists } from '../../fs/paths.ts';
import type { DatabaseWait, Engine, Reader, ReadMode } from '../contract.ts';
import { litestreamPointInTime } from './archive/point-in-time.ts';
import { untilFree } from './busy.ts';
import { quoteIdentifier, SqliteConnection, withConnection } from './connection.ts';
import { readFacts } from './facts.ts';
import { assertSqliteFile, databaseBytes, hasSqliteHeader } from './file.ts';
import { inspectSchema } from './inspect.ts';
import { foreignKeyViolationsOfChanges, integrityOfChanges } from './changed-checks.ts';
import { commitMark, committedSince, dropCascades, removedByRun } from './commits.ts';
import { proveSnapshotFile } from './prove.ts';
import { followSnapshot } from './follow.ts';
import { acquireLock } from './lock.ts';
import { restoreInto } from './restore.ts';
import { listTables, tableColumns } from './schema.ts';
import { copyFrom, copyToSelfContainedFile, removeCopy } from './self-contained-copy.ts';
import { exportTableSql, replaceTableRows } from './table.ts';
import { splitSqliteSql } from './sql-split.ts';
import { runSqliteStatement, sqliteStatementFailure } from './statement.ts';

/**
 * Opens and reads the schema: the first read is where SQLite meets a crashed writer's leftovers
 * (WAL recovery, a hot journal) and where a busy database says so; closed again when it fails.
 */
async function firstRead(open: () => Promise<SqliteConnection>): Promise<SqliteConnection> {
  const connection = await open();
  try {
    await connection.all('SELECT COUNT(*) FROM sqlite_master');
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
  return connection;
}

/**
 * A first read that only settles the database: anything but a busy database (a damaged file, say)
 * is left for the open that does the work to meet and report in its own terms (a restore replaces
 * a damaged database, and must get to do it).
 */
async function settledBy(open: () => Promise<SqliteConnection>): Promise<void> {
  let connection: SqliteConnection;
  try {
    connection = await firstRead(open);
  } catch (error) {
    if (isDatabaseBusy(error)) throw error;
    return;
  }
  await connection.close();
}

const OPENERS: Readonly<Record<ReadMode, (file: string) => Promise<SqliteConnection>>> = {
  untouched: (file) => SqliteConnection.openUntouched(file),
  readonly: (file) => SqliteConnection.open(file, 'readonly'),
  readwrite: (file) => SqliteConnection.open(file, 'readwrite'),
};

/** How the registry builds SQLite engines (see sqliteDescriptor.load). */
export const sqliteModule: EngineModule = {
  engine: (database) => sqliteEngine(path.resolve(database)),
  // A SQLite backup is a file that needs nothing else: only the engine's reads of a snapshot file
  // are used, and its `source` is a name, never opened.
  backupEngine: (source) => sqliteEngine(path.resolve(sqliteDescriptor.takes(source) ? source : 'backup.db')),
};

/** The SQLite engine for one database file (an absolute path). */
export function sqliteEngine(file: string): Engine {
  const database = path.resolve(file);
  let onWait: ((wait: DatabaseWait) => void) | undefined;
  /**
   * The first read of the live database, on one connection, before any other opens it: after a
   * crash SQLite recovers the WAL index (or rolls back a hot journal) here, alone. Connections
   * opened at once while a slow recovery runs lose the WAL-index race and fail with SQLITE_BUSY
   * or SQLITE_PROTOCOL. A read-only connection: it may rebuild the -shm but never checkpoints.
   */
  let recovered: Promise<void> | null = null;
  const recover = (): Promise<void> => {
    const recovering =
      recovered ??
      untilFree(database, () => settledBy(() => SqliteConnection.open(database, 'readonly')), { onWait: (wait) => onWait?.(wait) }).catch(
        (error: unknown) => {
          recovered = null;
          throw error;
        },
      );
    recovered = recovering;
    return recovering;
  };
  /** A read that writes no byte (status, previews): only waited for, never recovered by us. */
  const openUntouched = () =>
    untilFree(database, () => firstRead(() => SqliteConnection.openUntouched(database)), { onWait: (wait) => onWait?.(wait) });
  const opened = async (mode: ReadMode): Promise<SqliteConnection> => {
    if (mode === 'untouched') return openUntouched();
    await recover();
    return OPENERS[mode](database);
  };
  return {
    kind: sqliteDescriptor.kind,
    name: database,
    labels: sqliteDescriptor.labels,
    snapshotLabel: sqliteDescriptor.labels.snapshot,
    snapshotExtension: '.db',
    pointInTimeAdvice: null,
    pointInTime: litestreamPointInTime(database),
    sidecar: (suffix) => `${database}.${suffix}`,
    identity: async () => ({ path: await realDatabasePath(database), systemIdentifier: null, database: null }),

    async probe() {
      if (!(await pathExists(database))) return 'missing';
      return (await assertSqliteFile(database)).bytes === 0 ? 'empty' : 'ready';
    },
    async create() {
      await mkdir(path.dirname(database), { recursive: true });
      // Write the header page, so the new file is a real SQLite database that backups can copy.
      await withConnection(SqliteConnection.open(database, 'create'), (created) =>
        created.exec('PRAGMA user_version = 0; CREATE TABLE __migrate_guard_init (x); DROP TABLE __migrate_guard_init;'),
      );
    },
    size: () => databaseBytes(database),
    fileMode: () => fileModeFrom(database),
    async lock(command) {
      // The lock lives beside the database: a folder that is not there is a wrong path.
      const folder = path.dirname(database);
      const isFolder = await stat(folder).then(
        (info) => info.isDirectory(),
        () => false,
      );
      if (!isFolder) throw new GuardError('USAGE', `the folder for the database (${folder}) does not exist; check --db / DATABASE_URL`);
      return acquireLock(database, command);
    },
    async settle(options) {
      onWait = options.onWait;
      if ((await this.probe()) !== 'ready') return;
      if (options.write) await recover();
      else await untilFree(database, () => settledBy(() => SqliteConnection.openUntouched(database)), { onWait: (wait) => onWait?.(wait) });
    },

    read: (mode, work) => withConnection(opened(mode), work),
    reader: (knex: Knex): Reader => ({ all: async (sql, bindings = []) => (await knex.raw(sql, bindings as Knex.RawBinding[])) as never }),
    // Loaded on first use: `migrate` with nothing pending answers without loading knex.
    async openKnex() {
      if (await pathExists(database)) await recover();
      return (await import('./knex.ts')).openKnex(database);
    },
    transactionalDdl: true,

    async snapshot(target, onProgress) {
      await recover();
      await copyToSelfContainedFile(database, target, onProgress);
      return { facts: null, prove: (applied, signal) => proveSnapshotFile(target, applied, signal), discard: () => removeCopy(target) };
    },
    async followSnapshot(target, onProgress) {
      await recover();
      return followSnapshot(database, target, await fileModeFrom(database), onProgress);
    },
    isSnapshot: (snapshot) => hasSqliteHeader(snapshot),
    proveSnapshot: proveSnapshotFile,
    readSnapshot: (snapshot, work) => withConnection(SqliteConnection.open(snapshot, 'readonly'), work),
    async restore(snapshot, steps) {
      if (await pathExists(database)) await recover();
      return restoreInto(database, snapshot, steps);
    },
    discardSnapshot: removeCopy,
    async scratch(folder) {
      const scratch = sqliteEngine(path.join(folder, 'scratch.db'));
      await scratch.create();
      return { engine: scratch, drop: () => removeCopy(scratch.name) };
    },
    async rehearsal(folder, onProgress) {
      const copy = sqliteEngine(path.join(folder, 'rehearsal.db'));
      await withConnection(openUntouched(), (source) => copyFrom(source, copy.name, onProgress));
      return { engine: copy, drop: () => removeCopy(copy.name) };
    },

    integrity: integrityOfChanges,
    foreignKeyViolations: foreignKeyViolationsOfChanges,
    listTables: (reader) => listTables(reader),
    commitMark,
    committedSince,
    removedByRun,
    dropCascades,
    columns: (reader, table) => tableColumns(reader, table),
    facts: readFacts,
    inspect: inspectSchema,
    quote: quoteIdentifier,
    lockWarnings: () => [],

    exportTable: exportTableSql,
    async replaceTable(snapshot, table, force) {
      await recover();
      return replaceTableRows(database, snapshot, table, force);
    },

    manualRestore: (backup) => `sqlite3 ${database} ".restore '${backup}'"`,

    splitSql: splitSqliteSql,
    runSqlStatement: runSqliteStatement,
    statementFailure: sqliteStatementFailure,

    damage(error) {
      const code = (error as { code?: string }).code;
      return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' ? code : null;
    },
  };
}

/**
 * The file's real path, links resolved: the same database reached through a symlinked folder is
 * the same database. One that does not exist yet is named by its folder's real path.
 */
async function realDatabasePath(database: string): Promise<string> {
  const real = await realpath(database).catch(() => null);
  if (real !== null) return real;
  const folder = await realpath(path.dirname(database)).catch(() => path.dirname(database));
  return path.join(folder, path.basename(database));
}
