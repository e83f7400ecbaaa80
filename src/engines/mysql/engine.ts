import path from 'node:path';
import type { Knex } from 'knex';
import { GuardError } from '../../errors.ts';
import { fsyncPath, writeStreamAtomic } from '../../fs/atomic.ts';
import { PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { removeIfPresent } from '../../fs/paths.ts';
import { redact } from '../../redact.ts';
import type { AppliedReader, Engine, Reader, ScratchDatabase, SnapshotProof, TakenSnapshot } from '../contract.ts';
import type { EngineModule } from '../descriptor.ts';
import { snapshotWithPipedProof } from '../piped-proof.ts';
import { mysqlDescriptor } from './descriptor.ts';
import { MyConnection, myString, quoteMy, withMy } from './connection.ts';
import { DUMP_TRAILER, dumpDatabase, isCompleteDump, isDump, loadDump, type ToolResult } from './dump.ts';
import { openMyKnex } from './knex.ts';
import { acquireMyLock } from './lock.ts';
import { swapTables, writeMark, writtenBetween } from './restore.ts';
import { myLockFindings } from './review.ts';
import { scratchDatabaseName, sweepScratchDatabases } from './scratch.ts';
import {
  countRows,
  inspectMy,
  listMyTables,
  myColumns,
  myForeignKeys,
  myForeignKeyViolationsAfter,
  myIntegrity,
  mySchemaObjects,
  orphansQuery,
  readMyFacts,
} from './schema.ts';
import { splitMysqlSql } from './sql-split.ts';
import { myStatementFailure, runMyStatement } from './statement.ts';
import { parseMyUrl, withMyDatabase, type MyServer } from './url.ts';

/** How long the restore's RENAME waits for the application's open transactions on the tables. */
const SWAP_LOCK_WAIT_SECONDS = 60;

/** Server error codes that mean the data itself is damaged, not the statement. */
const DAMAGE_CODES = new Set([
  'ER_NOT_KEYFILE',
  'ER_CRASHED_ON_USAGE',
  'ER_CRASHED_ON_REPAIR',
  'ER_INDEX_CORRUPT',
  'ER_TABLE_CORRUPT',
  'ER_TABLE_SCHEMA_MISMATCH',
]);

/** How the registry builds MySQL/MariaDB engines (see mysqlDescriptor.load). */
export const mysqlModule: EngineModule = {
  engine: (database, options) => mysqlEngine(database, { stateDir: path.resolve(options.stateDir ?? 'backups') }),
  // A dump is proven by loading it on a server: the one the live database is on, since its
  // manifest keeps the URL without its password.
  backupEngine(source, live, options) {
    if (live === undefined || live.kind !== mysqlDescriptor.kind)
      throw new GuardError(
        'USAGE',
        `${source} is a MySQL/MariaDB dump: it is proven on a MySQL/MariaDB server; give the database (--db / DATABASE_URL)`,
      );
    return mysqlModule.engine(live.database, options);
  },
};

/**
 * The MySQL/MariaDB engine for one database, as its URL names it. A snapshot is a `mariadb-dump
 * --single-transaction` (mysqldump where that is the tool); it is proven by loading its bytes,
 * as they are written, into a scratch database: what the load shows is what the dump holds (the
 * manifest's facts are read there). DDL commits implicitly, so `transactionalDdl` is false: the
 * runbook runs migration by migration and undoes a failed one by restoring. A restore loads the
 * backup into a scratch database and swaps its tables in with one RENAME TABLE. The run's files
 * (journal, holder file, pre-restore dumps) live in `stateDir`.
 */
export function mysqlEngine(databaseUrl: string, options: { readonly stateDir: string }): Engine {
  const server = parseMyUrl(databaseUrl);
  const database = server.database;
  const name = redact(databaseUrl);
  const stateDir = path.resolve(options.stateDir);
  const at = (other: string): MyServer => ({ ...server, database: other });
  const onServer = <T>(work: (connection: MyConnection) => Promise<T>) => withMy(server, work, null);
  const cannotConnect = (error: unknown) =>
    new GuardError('USAGE', `cannot connect to ${name}: ${(error as Error).message}; check DATABASE_URL and that the server runs`, {
      cause: error,
    });

  const engine: Engine = {
    kind: mysqlDescriptor.kind,
    name,
    labels: mysqlDescriptor.labels,
    snapshotLabel: mysqlDescriptor.labels.snapshot,
    snapshotExtension: '.sql',
    pointInTimeAdvice:
      'MySQL/MariaDB point-in-time recovery replays the binary log: keep it (log_bin) and replay it with mariadb-binlog / mysqlbinlog on top of a backup (see the README: "MySQL and MariaDB"); migrate-guard restores its verified dumps',
    sidecar: (suffix) => path.join(stateDir, `${database}.${suffix}`),
    async identity() {
      const row = await onServer(async (connection) => {
        const [found] = await connection.all<{ host: string; port: number | string }>('SELECT @@hostname AS host, @@port AS port');
        // MySQL has a server UUID; MariaDB does not (its @@server_id is a small number anyone sets).
        const [uuid] = await connection.all<{ id: string }>('SELECT @@server_uuid AS id').catch(() => []);
        return { ...found!, uuid: uuid?.id ?? null };
      }).catch((error: unknown) => {
        throw cannotConnect(error);
      });
      return { path: null, systemIdentifier: row.uuid ?? `${row.host}:${Number(row.port)}`, database };
    },

    async probe() {
      let connection: MyConnection;
      try {
        connection = await MyConnection.open(server);
      } catch (error) {
        if ((error as { code?: string }).code === 'ER_BAD_DB_ERROR') return 'missing';
        throw cannotConnect(error);
      }
      // A database that exists is ready, tables or not ('empty' is a SQLite file of zero bytes).
      await connection.close();
      return 'ready';
    },
    create: () => onServer((connection) => connection.exec(`CREATE DATABASE ${quoteMy(database)} CHARACTER SET utf8mb4`)),
    async size() {
      return withMy(server, async (connection) => {
        // data_length is InnoDB's estimate, refreshed with its statistics; the tablespace files'
        // sizes are what the disk holds (MariaDB: INNODB_SYS_TABLESPACES, MySQL 8: INNODB_TABLESPACES).
        const [estimate] = await connection.all<{ bytes: string | null }>(
          'SELECT SUM(data_length + index_length) AS bytes FROM information_schema.tables WHERE table_schema = DATABASE()',
        );
        let files = 0;
        for (const view of ['INNODB_SYS_TABLESPACES', 'INNODB_TABLESPACES']) {
          const rows = await connection
            .all<{ bytes: string | null }>(`SELECT SUM(file_size) AS bytes FROM information_schema.${view} WHERE name LIKE ?`, [
              `${database.replaceAll('\\', '\\\\').replaceAll('%', '\\%').replaceAll('_', '\\_')}/%`,
            ])
            .catch(() => null);
          if (rows !== null) {
            files = Number(rows[0]?.bytes ?? 0);
            break;
          }
        }
        return Math.max(files, Number(estimate?.bytes ?? 0));
      });
    },
    // A dump holds every row: only its owner reads it (there is no database file to take bits from).
    fileMode: async () => PRIVATE_FILE_MODE,
    async lock(command) {
      const lock = await acquireMyLock(server, command, engine.sidecar('lock-holder'));
      // A SIGKILLed run's scratch databases (each a whole copy) are dropped by the next run that locks.
      await onServer(sweepScratchDatabases).catch(() => undefined);
      return lock;
    },
    // The server recovers after a crash before it accepts connections: nothing to do on our side.
    settle: async () => undefined,

    read: (mode, work) =>
      withMy(server, async (connection) => {
        if (mode === 'readwrite') return work(connection);
        // One consistent view of every InnoDB table throughout, and no write possible.
        await connection.exec('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        try {
          return await work(connection);
        } finally {
          await connection.exec('ROLLBACK').catch(() => undefined);
        }
      }),
    reader: (knex: Knex): Reader => ({
      async all<T>(sql: string, bindings: readonly unknown[] = []) {
        const result = (await (bindings.length === 0 ? knex.raw(sql) : knex.raw(sql, bindings as Knex.RawBinding[]))) as [unknown];
        return (Array.isArray(result[0]) ? result[0] : []) as T[];
      },
    }),
    openKnex: async () => openMyKnex(server),
    transactionalDdl: false,
    splitSql: splitMysqlSql,
    runSqlStatement: runMyStatement,
    statementFailure: myStatementFailure,

    async snapshot(target, onProgress, provenWith) {
      onProgress?.(0, 1);
      let taken: TakenSnapshot;
      if (provenWith) taken = await snapshotToProve(target, provenWith);
      else {
        const { dumped } = await dumpDatabase(server, target, null);
        await dumped;
        taken = { facts: null, prove: (applied, signal) => proveDump(target, applied, signal), discard: () => removeIfPresent(target) };
      }
      try {
        await fsyncPath(target);
      } catch (error) {
        await taken.discard();
        throw error;
      }
      onProgress?.(1, 1);
      return taken;
    },
    isSnapshot: isDump,
    proveSnapshot: (file, applied, signal) => proveDump(file, applied, signal),
    readSnapshot: (file, work) =>
      withLoadedDump(file, undefined, async (scratch, loaded) => {
        if (!loaded.ok) throw new GuardError('BACKUP_INVALID', `${file} does not load: ${loaded.detail}`);
        return scratch.engine.read('readonly', work);
      }),
    async restore(snapshot, { onProgress, beforeChange, prove }) {
      onProgress?.(0, 1);
      const incoming = await scratchDatabase();
      let replaced: (ScratchDatabase & { readonly server: MyServer }) | null = null;
      let mark: string;
      try {
        const loaded = await loadDump(incoming.server, snapshot);
        // Nothing of the live database was touched yet: it is as it was.
        if (!loaded.ok) throw new Error(`loading ${snapshot} into a scratch database failed: ${loaded.detail}`);
        replaced = await scratchDatabase();
        // `restore` may put a backup into a database that does not exist (any more).
        await onServer((connection) => connection.exec(`CREATE DATABASE IF NOT EXISTS ${quoteMy(database)} CHARACTER SET utf8mb4`));
        mark = await swapTables(server, incoming.server.database, replaced.server.database, SWAP_LOCK_WAIT_SECONDS);
        // The replaced tables are the database as it was at the swap, every commit before it
        // included, and nobody writes them any more: the pre-restore copy is their dump.
        const kept = replaced;
        await beforeChange?.(async (target) => {
          const { dumped } = await dumpDatabase(kept.server, target, null);
          await dumped;
          await fsyncPath(target);
        });
      } finally {
        await incoming.drop().catch(() => undefined);
        await replaced?.drop().catch(() => undefined);
      }
      onProgress?.(1, 1);
      return engine.read('readonly', async (reader) => prove(reader, writtenBetween(mark, await writeMark(reader, database))));
    },
    discardSnapshot: removeIfPresent,

    scratch: async () => scratchDatabase(),
    async rehearsal(folder) {
      const scratch = await scratchDatabase();
      try {
        const dump = path.join(folder, 'rehearsal.sql');
        // --single-transaction reads one consistent snapshot and locks no table: the live
        // database's writers are not held up.
        const { dumped, loaded } = await dumpDatabase(server, dump, scratch.server);
        const [, result] = await Promise.all([dumped, loaded!]);
        await removeIfPresent(dump);
        if (!result.ok) throw new Error(`the rehearsal copy could not be made: ${result.detail}`);
        return scratch;
      } catch (error) {
        await scratch.drop();
        throw error;
      }
    },

    integrity: myIntegrity,
    foreignKeyViolations: myForeignKeyViolationsAfter,
    listTables: listMyTables,
    commitMark: (reader) => writeMark(reader, database),
    // Rows modified, committed or not, by any session (this one's too): "yes" whenever one may have.
    committedSince: async (reader, mark) => writtenBetween(mark, await writeMark(reader, database)),
    // A run here commits migration by migration (DDL commits implicitly): its deletes and the
    // application's cannot be told apart.
    removedByRun: async () => null,
    // InnoDB refuses to drop a table a foreign key points at (with foreign_key_checks on); no rows go.
    dropCascades: async () => null,
    columns: myColumns,
    facts: readMyFacts,
    inspect: inspectMy,
    quote: quoteMy,
    lockWarnings: myLockFindings,

    exportTable: (snapshot, table, out, header, mode) =>
      withLoadedDump(snapshot, undefined, async (scratch, loaded) => {
        if (!loaded.ok) throw new GuardError('BACKUP_INVALID', `${snapshot} does not load: ${loaded.detail}`);
        return withMy(scratch.server, (connection) => exportRows(connection, table, out, header, mode));
      }),
    replaceTable: (snapshot, table, force) =>
      withLoadedDump(snapshot, undefined, async (scratch, loaded) => {
        if (!loaded.ok) throw new GuardError('BACKUP_INVALID', `${snapshot} does not load: ${loaded.detail}`);
        return withMy(server, (connection) => replaceRows(connection, scratch.server.database, table, force));
      }),

    manualRestore: (backup) =>
      `mariadb --host=${server.host} --port=${server.port} --user=${server.user}${server.password === null ? '' : ' --password'} ${database} < '${backup}'`,
    damage(error) {
      const code = (error as { code?: unknown }).code;
      return typeof code === 'string' && DAMAGE_CODES.has(code) ? code : null;
    },
  };
  return engine;

  /**
   * A backup's dump, loaded into a scratch database as it is written: the proof is the load (every
   * statement of the dump ran), then the facts read there, which are therefore the facts of the
   * dump's own bytes (no second reading of the live database to tie to it).
   */
  async function snapshotToProve(target: string, applied: AppliedReader): Promise<TakenSnapshot> {
    const scratch = await scratchDatabase();
    const abandon = new AbortController();
    let started: Awaited<ReturnType<typeof dumpDatabase>>;
    try {
      started = await dumpDatabase(server, target, scratch.server, abandon.signal);
    } catch (error) {
      await scratch.drop().catch(() => undefined);
      throw error;
    }
    const { dumped, loaded } = started;
    const proof = (async (): Promise<SnapshotProof & { readonly sha256: string }> => {
      try {
        const [{ sha256 }, result] = await Promise.all([dumped, loaded!]);
        if (!result.ok) return { integrity: result, facts: null, unreadable: result.detail, objects: [], sha256 };
        if (!(await isCompleteDump(target))) {
          const detail = `the dump does not end with "${DUMP_TRAILER}": it is cut short`;
          return { integrity: { ok: false, detail }, facts: null, unreadable: detail, objects: [], sha256 };
        }
        return { ...(await proofOf(scratch.engine, applied)), sha256 };
      } finally {
        await scratch.drop().catch(() => undefined);
      }
    })();
    proof.catch(() => undefined);
    try {
      await dumped;
    } catch (error) {
      abandon.abort();
      await proof.catch(() => undefined);
      throw error;
    }
    // The proof under way loaded exactly the bytes written; the file on disk must still be them.
    return snapshotWithPipedProof(target, null, proof, abandon);
  }

  /** Proves a dump file: loaded into a scratch database, whose facts and objects it reports. */
  function proveDump(file: string, applied: AppliedReader, signal?: AbortSignal): Promise<SnapshotProof> {
    return withLoadedDump(file, signal, async (scratch, loaded) => {
      if (!loaded.ok) return { integrity: loaded, facts: null, unreadable: loaded.detail, objects: [] };
      return proofOf(scratch.engine, applied);
    });
  }

  /** An empty database on the same server, dropped when done. */
  async function scratchDatabase(): Promise<ScratchDatabase & { readonly server: MyServer }> {
    const scratchName = scratchDatabaseName();
    await onServer(async (connection) => {
      await sweepScratchDatabases(connection);
      await connection.exec(`CREATE DATABASE ${quoteMy(scratchName)} CHARACTER SET utf8mb4`);
    });
    return {
      server: at(scratchName),
      engine: mysqlEngine(withMyDatabase(databaseUrl, scratchName), { stateDir }),
      drop: () => onServer((connection) => connection.exec(`DROP DATABASE IF EXISTS ${quoteMy(scratchName)}`)),
    };
  }

  /** A dump loaded into a scratch database for `work`, then dropped whatever happens. */
  async function withLoadedDump<T>(
    dump: string,
    signal: AbortSignal | undefined,
    work: (scratch: ScratchDatabase & { readonly server: MyServer }, loaded: ToolResult) => Promise<T>,
  ): Promise<T> {
    const scratch = await scratchDatabase();
    try {
      return await work(scratch, await loadDump(scratch.server, dump, signal));
    } finally {
      await scratch.drop().catch(() => undefined);
    }
  }
}

/** What a loaded dump holds: the proof's facts and objects, read from the scratch database. */
function proofOf(scratch: Engine, applied: AppliedReader): Promise<SnapshotProof> {
  return scratch.read('readonly', async (reader) => ({
    integrity: { ok: true, detail: 'ok (the whole dump loaded into a scratch database)' },
    facts: await readMyFacts(reader, applied),
    unreadable: null,
    objects: (await mySchemaObjects(reader)).filter((object) => object.type !== 'column').map((object) => `${object.type} ${object.name}`),
  }));
}

/** Columns a row can be written to: generated ones are computed by the server. */
async function writableColumns(connection: MyConnection, schema: string, table: string): Promise<string[]> {
  const rows = await connection.all<{ name: string; extra: string }>(
    'SELECT column_name AS name, extra FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position',
    [schema, table],
  );
  return rows.filter((row) => !/\b(VIRTUAL|STORED|PERSISTENT)\b/i.test(row.extra.replace('DEFAULT_GENERATED', ''))).map((row) => row.name);
}

/** A table's rows as reviewable INSERTs, streamed from the server (memory stays flat). */
async function exportRows(connection: MyConnection, table: string, out: string, header: readonly string[], mode: number): Promise<number> {
  const [current] = await connection.all<{ db: string }>('SELECT DATABASE() AS db');
  const columns = await writableColumns(connection, current!.db, table);
  if (columns.length === 0) throw new GuardError('USAGE', `no table ${JSON.stringify(table)} in the backup`);
  const list = columns.map(quoteMy).join(', ');
  let rows = 0;
  await writeStreamAtomic(
    out,
    async (write) => {
      for (const line of header) await write(`-- ${line}\n`);
      await write('START TRANSACTION;\n');
      // The promise wrapper's callback connection (untyped): its query streams rows one at a time.
      const core = (connection.connection as unknown as { connection: { query(sql: string): { stream(): AsyncIterable<unknown> } } })
        .connection;
      const stream = core.query(`SELECT ${list} FROM ${quoteMy(table)}`).stream();
      for await (const row of stream as AsyncIterable<Record<string, unknown>>) {
        rows += 1;
        await write(`INSERT INTO ${quoteMy(table)} (${list}) VALUES (${columns.map((column) => myLiteral(row[column])).join(', ')});\n`);
      }
      await write('COMMIT;\n');
    },
    mode,
  );
  return rows;
}

/** A SQL literal for a value mysql2 gave back (dates and big numbers as strings: see connectionOptions). */
export function myLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (Buffer.isBuffer(value)) return `X'${value.toString('hex')}'`;
  return myString(typeof value === 'object' ? JSON.stringify(value) : String(value));
}

/**
 * The backup's rows of one table (loaded in `from`, a scratch database) in place of the live
 * ones, in one transaction; foreign-key checks are off for its statements (InnoDB would refuse the
 * DELETE of rows the same transaction puts back) and every key from or to the table is checked by
 * query before COMMIT: a broken one rolls it all back unless forced.
 */
async function replaceRows(
  connection: MyConnection,
  from: string,
  table: string,
  force: boolean,
): Promise<{ rows: number; violations: { table: string; row: string | null; parent: string }[]; committed: boolean }> {
  const columns = await writableColumns(connection, from, table);
  if (columns.length === 0) throw new GuardError('USAGE', `no table ${JSON.stringify(table)} in the backup`);
  const list = columns.map(quoteMy).join(', ');
  const keys = (await myForeignKeys(connection)).filter((key) => key.child === table || key.parent === table);
  await connection.exec('SET SESSION foreign_key_checks = 0');
  await connection.exec('START TRANSACTION');
  try {
    await connection.exec(`DELETE FROM ${quoteMy(table)}`);
    await connection.exec(`INSERT INTO ${quoteMy(table)} (${list}) SELECT ${list} FROM ${quoteMy(from)}.${quoteMy(table)}`);
    const violations: { table: string; row: string | null; parent: string }[] = [];
    for (const key of keys) {
      const orphans = await connection.all(orphansQuery(key));
      violations.push(...orphans.map(() => ({ table: key.child, row: null, parent: key.parent })));
    }
    if (violations.length > 0 && !force) {
      await connection.exec('ROLLBACK');
      return { rows: 0, violations, committed: false };
    }
    await connection.exec('COMMIT');
    return { rows: await countRows(connection, table), violations, committed: true };
  } catch (error) {
    await connection.exec('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await connection.exec('SET SESSION foreign_key_checks = 1').catch(() => undefined);
  }
}
