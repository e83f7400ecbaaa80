import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { fileModeFrom } from '../../fs/file-mode.ts';
import { GuardError } from '../../errors.ts';
import { pathExists } from '../../fs/paths.ts';
import type { Engine, Reader, ReadMode } from '../contract.ts';
import { quoteIdentifier, SqliteConnection, withConnection } from './connection.ts';
import { readFacts } from './facts.ts';
import { assertSqliteFile, databaseBytes, hasSqliteHeader } from './file.ts';
import { inspectSchema } from './inspect.ts';
import { foreignKeyViolationsOfChanges, integrityOfChanges } from './changed-checks.ts';
import { commitMark, dropCascades, removedByRun } from './commits.ts';
import { proveSnapshotFile } from './prove.ts';
import { acquireLock } from './lock.ts';
import { restoreInto } from './restore.ts';
import { listTables, tableColumns } from './schema.ts';
import { copyFrom, copyToSelfContainedFile, removeCopy } from './self-contained-copy.ts';
import { exportTableSql, replaceTableRows } from './table.ts';

const OPENERS: Readonly<Record<ReadMode, (file: string) => Promise<SqliteConnection>>> = {
  untouched: (file) => SqliteConnection.openUntouched(file),
  readonly: (file) => SqliteConnection.open(file, 'readonly'),
  readwrite: (file) => SqliteConnection.open(file, 'readwrite'),
};

/** The SQLite engine for one database file (an absolute path). */
export function sqliteEngine(file: string): Engine {
  const database = path.resolve(file);
  return {
    kind: 'sqlite',
    name: database,
    snapshotLabel: 'SQLite database',
    snapshotExtension: '.db',
    pointInTimeAdvice: null,
    sidecar: (suffix) => `${database}.${suffix}`,

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
      const isFolder = await stat(folder).then((info) => info.isDirectory(), () => false);
      if (!isFolder) throw new GuardError('USAGE', `the folder for the database (${folder}) does not exist; check --db / DATABASE_URL`);
      return acquireLock(database, command);
    },

    read: (mode, work) => withConnection(OPENERS[mode](database), work),
    reader: (knex: Knex): Reader => ({ all: async (sql, bindings = []) => (await knex.raw(sql, bindings as Knex.RawBinding[])) as never }),
    // Loaded on first use: `migrate` with nothing pending answers without loading knex.
    openKnex: async () => (await import('./knex.ts')).openKnex(database),
    transactionalDdl: true,

    async snapshot(target, onProgress) {
      await copyToSelfContainedFile(database, target, onProgress);
      return null;
    },
    isSnapshot: (snapshot) => hasSqliteHeader(snapshot),
    proveSnapshot: proveSnapshotFile,
    readSnapshot: (snapshot, work) => withConnection(SqliteConnection.open(snapshot, 'readonly'), work),
    restore: (snapshot, steps) => restoreInto(database, snapshot, steps),
    discardSnapshot: removeCopy,
    async scratch(folder) {
      const scratch = sqliteEngine(path.join(folder, 'scratch.db'));
      await scratch.create();
      return { engine: scratch, drop: () => removeCopy(scratch.name) };
    },
    async rehearsal(folder, onProgress) {
      const copy = sqliteEngine(path.join(folder, 'rehearsal.db'));
      await withConnection(SqliteConnection.openUntouched(database), (source) => copyFrom(source, copy.name, onProgress));
      return { engine: copy, drop: () => removeCopy(copy.name) };
    },

    integrity: integrityOfChanges,
    foreignKeyViolations: foreignKeyViolationsOfChanges,
    listTables: (reader) => listTables(reader),
    commitMark,
    removedByRun,
    dropCascades,
    columns: (reader, table) => tableColumns(reader, table),
    facts: readFacts,
    inspect: inspectSchema,
    quote: quoteIdentifier,
    lockWarnings: () => [],

    exportTable: exportTableSql,
    replaceTable: (snapshot, table, force) => replaceTableRows(database, snapshot, table, force),

    manualRestore: (backup) => `sqlite3 ${database} ".restore '${backup}'"`,

    damage(error) {
      const code = (error as { code?: string }).code;
      return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' ? code : null;
    },
  };
}

