import { chmod } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { GuardError } from '../../errors.ts';
import { fsyncPath, writeStreamAtomic } from '../../fs/atomic.ts';
import { PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { removeIfPresent, startsWith } from '../../fs/paths.ts';
import type {
  AppliedReader,
  ChangedSet,
  DatabaseFacts,
  Engine,
  IntegrityLevel,
  IntegrityResult,
  Reader,
  ScratchDatabase,
  SnapshotProof,
} from '../contract.ts';
import { sha256File } from '../../fs/hash.ts';
import { PgConnection, quotePg, withPg } from './connection.ts';
import type { TransactionAtCommit } from './dump.ts';
import { acquirePgLock } from './lock.ts';
import { requireServerSession, transactionPoolerError, transactionPoolingEvidence, type UrlSource } from './pooler.ts';
import { handOverTo, ownsTable, restoreRoles, warnAboutRoles, type RestoreRoles } from './roles.ts';
import { scratchDatabaseName, sweepScratchDatabases } from './scratch.ts';
import { pgLockFindings } from './review.ts';
import { inspectPg, listPgTables, pgColumns, pgForeignKeyViolations, pgSchemaObjects, readPgFacts } from './schema.ts';
import { redact } from '../../redact.ts';
import { databaseOf, directConnection, withDatabase } from './url.ts';
import { splitPostgresSql } from './sql-split.ts';
import { pgStatementFailure, runPgStatement } from './statement.ts';
import { pgRestorePoints } from './restore-point.ts';

/** The client tools, loaded on first use (with execa): reading and locking need neither. */
const tools = () => import('./dump.ts');

const DUMP_MAGIC = Buffer.from('PGDMP', 'latin1');

/** The maintenance database CREATE/DROP DATABASE run from. */
const MAINTENANCE = 'postgres';

/**
 * The PostgreSQL engine for one database, as its URL names it. A snapshot is a
 * `pg_dump --format=custom` taken in a transaction whose facts are read alongside; it is proven
 * by `pg_restore --single-transaction --exit-on-error` into a scratch database whose facts must
 * equal them. The run's files (journal, pre-restore dumps) live in `stateDir`: a server has no
 * "beside the database".
 *
 * `databaseUrl` finds and names the database (its backups' names, the manifest's source);
 * every connection goes to `directUrl` when there is one: the server itself, when `databaseUrl`
 * goes through a pooler (see pooler.ts). A step that needs a server session of its own (the
 * lock, a dump, a restore, a scratch database) first proves the URL gives one, once per engine.
 */
export function postgresEngine(
  databaseUrl: string,
  options: { readonly stateDir: string; readonly directUrl?: string | null | undefined; readonly sessionProven?: boolean },
): Engine {
  const database = databaseOf(databaseUrl);
  const name = redact(databaseUrl);
  const url = options.directUrl ? directConnection(databaseUrl, options.directUrl) : databaseUrl;
  const source: UrlSource = options.directUrl ? 'DIRECT_URL' : 'DATABASE_URL';
  let sessionProven: Promise<void> | null = options.sessionProven ? Promise.resolve() : null;
  /** Refused (TRANSACTION_POOLER) before anything when `url` is a pooler in transaction mode; a failed check is tried again next time. */
  const requireSession = (): Promise<void> => {
    sessionProven ??= requireServerSession(url, source).catch((error: unknown) => {
      sessionProven = null;
      throw error;
    });
    return sessionProven;
  };
  const stateDir = path.resolve(options.stateDir);
  const maintenance = withDatabase(url, MAINTENANCE);
  /** The proofs of snapshots this engine dumped, running beside the dump, by file. */
  const piped = new Map<
    string,
    { readonly proof: Promise<SnapshotProof & { readonly sha256: string }>; readonly abandon: AbortController }
  >();
  /** Who dumps are restored as (see roles.ts), asked once per engine. */
  let rolesOnce: Promise<RestoreRoles> | null = null;
  const roles = (): Promise<RestoreRoles> => {
    rolesOnce ??= withPg(url, (connection) => restoreRoles(connection, url));
    rolesOnce.catch(() => {
      rolesOnce = null;
    });
    return rolesOnce;
  };

  const engine: Engine = {
    kind: 'postgres',
    name,
    snapshotLabel: 'PostgreSQL dump (pg_dump --format=custom)',
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
      await requireSession();
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
    splitSql: splitPostgresSql,
    runSqlStatement: runPgStatement,
    statementFailure: pgStatementFailure,

    async snapshot(target, onProgress, provenWith) {
      // pg_dump says nothing countable while it works: the bar goes from nothing to done.
      await requireSession();
      onProgress?.(0, 1);
      const facts = provenWith
        ? await snapshotToProve(target, provenWith)
        : await (await tools()).dumpDatabase(url, target, null).then(
            () => null,
            async (error: unknown) => {
              throw (await poolerBehind('when pg_dump failed')) ?? error;
            },
          );
      // pg_dump creates its file with the umask's mode.
      await chmod(target, PRIVATE_FILE_MODE);
      await fsyncPath(target);
      onProgress?.(1, 1);
      return facts;
    },
    isSnapshot: (file) => startsWith(file, DUMP_MAGIC),
    async proveSnapshot(file, applied, signal) {
      // A snapshot of ours was restored from its bytes as they were written: the proof holds for
      // the file once the file's bytes are shown to be those bytes.
      const pipedProof = piped.get(file);
      if (pipedProof) {
        piped.delete(file);
        const onAbort = () => pipedProof.abandon.abort();
        signal?.addEventListener('abort', onAbort);
        try {
          const { sha256, ...proof } = await pipedProof.proof;
          if ((await sha256File(file)) !== sha256) {
            return {
              integrity: { ok: false, detail: 'the dump on disk is not the one the proof restored' },
              facts: null,
              unreadable: 'checksum',
              objects: [],
            };
          }
          return proof;
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      }
      return withRestoredDump(file, signal, async (scratch, restored) => {
        if (!restored.ok) {
          const pooled = await poolerBehind('when pg_restore into a scratch database failed');
          if (pooled) throw pooled;
          return { integrity: restored, facts: null, unreadable: restored.detail, objects: [] };
        }
        return proofOf(scratch.engine, applied);
      });
    },
    readSnapshot: (file, work) =>
      withRestoredDump(file, undefined, async (scratch, restored) => {
        if (!restored.ok) throw new GuardError('BACKUP_INVALID', `${file} does not restore: ${restored.detail}`);
        return scratch.engine.read('readonly', work);
      }),
    async restore(snapshot, { onProgress, beforeChange, prove }) {
      await requireSession();
      onProgress?.(0, 1);
      // pg_restore --clean drops and recreates what the dump holds; what the run created that the
      // dump does not know (a new table) is dropped first, in the same transaction. The tables are
      // locked against writers from before the pre-restore copy to the COMMIT, so an application's
      // commit is in the pre-restore copy or waits for the restore, never lost between the two.
      const { dumpObjects, runDumpAsOneTransaction } = await tools();
      const known = await dumpObjects(url, snapshot);
      const { role } = await roles();
      const { extra, tables, handOver } = await withPg(url, async (connection) => ({
        extra: await objectsNotIn(connection, known),
        tables: await writableTables(connection),
        handOver: role === null ? null : await handOverTo(connection, role),
      }));
      // As the role without superuser rights, once it owns what the restore drops and recreates
      // (the superuser hands it over in the same transaction, see handOverTo).
      let asRole: string[] = [];
      if (role !== null && handOver !== null) {
        if ('blocker' in handOver)
          warnAboutRoles(
            `restoring ${name} with superuser rights, not as ${role}: ${handOver.blocker}, which only a superuser can drop and create`,
          );
        else asRole = [...handOver.statements, `SET ROLE ${quotePg(role)}`];
      }
      const result = await runDumpAsOneTransaction(url, snapshot, ['--clean', '--if-exists'], {
        lock: tables,
        before: [...asRole, ...extra],
        whileLocked: async () => {
          await beforeChange?.((target, progress) => engine.snapshot(target, progress).then(() => undefined));
        },
      });
      if (!result.ok) {
        const pooled = await poolerBehind('when the restore failed');
        if (pooled) throw pooled;
        // Failed before its COMMIT (a deadlock with the application, a lock timeout): the server
        // rolled it back, so the database is as it was, whatever the application wrote since.
        // Not told by comparing row counts afterwards: a writer beside it changes them, and the
        // torture saw such a restore reported as exit 3 (restore by hand) with nothing changed.
        if (result.rolledBack)
          throw new GuardError(
            'RESTORE_FAILED',
            `restore into ${name} failed and was rolled back, the database is as it was: ${result.detail}`,
          );
        throw new Error(`restore into ${name} failed: ${result.detail}`);
      }
      onProgress?.(1, 1);
      // One snapshot for the whole proof; row counts an application changed after the COMMIT are
      // told apart (as SQLite's data_version does), everything else stays strict.
      return engine.read('readonly', async (reader) => prove(reader, await committedAfter(reader, result.commit)));
    },
    async discardSnapshot(file) {
      const pipedProof = piped.get(file);
      if (pipedProof) {
        piped.delete(file);
        pipedProof.abandon.abort();
        await pipedProof.proof.catch(() => undefined);
      }
      await removeIfPresent(file);
    },

    // Owned by the restore role, so what is restored into it (a drill) runs as that role too.
    scratch: async () => scratchDatabase((await roles()).role),
    async rehearsal(folder) {
      await requireSession();
      const { role } = await roles();
      const scratch = await scratchDatabase(role);
      try {
        const dump = path.join(folder, 'rehearsal.dump');
        const { dumpDatabase, restoreIntoEmpty } = await tools();
        // pg_dump reads in one repeatable-read transaction and takes only ACCESS SHARE locks,
        // which block no reader and no writer of the live database.
        try {
          await dumpDatabase(url, dump, null);
        } catch (error) {
          throw (await poolerBehind('when pg_dump failed')) ?? error;
        }
        const restored = await restoreIntoEmpty(scratch.url, dump, { role });
        await removeIfPresent(dump);
        if (!restored.ok)
          throw (
            (await poolerBehind('when pg_restore into a scratch database failed')) ??
            new Error(`the rehearsal copy could not be made: ${restored.detail}`)
          );
        return scratch;
      } catch (error) {
        await scratch.drop();
        throw error;
      }
    },

    integrity: pgIntegrity,
    async foreignKeyViolations(reader, changed) {
      if (changed === undefined || changed.unknown !== null) return pgForeignKeyViolations(reader);
      // Where a violation can have appeared: the tables written, and those pointing at a table whose rows changed.
      const children = await reader.all<{ name: string }>(
        `SELECT DISTINCT c.relname AS name FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
          WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace AND p.relname = ANY(?::text[])`,
        [[...changed.rowsChanged]],
      );
      return pgForeignKeyViolations(reader, [...changed.tables, ...children.map((child) => child.name)]);
    },
    listTables: listPgTables,
    async commitMark(reader) {
      const [row] = await reader.all<{ mark: string }>('SELECT pg_current_snapshot()::text AS mark');
      return row?.mark ?? '';
    },
    /**
     * Transactions that were running when the mark was read, or began after it, and have committed
     * since (this session's own are in progress or aborted, never committed while it runs).
     */
    async committedSince(reader, mark) {
      const [row] = await reader.all<{ others: boolean }>(
        `SELECT EXISTS (
           SELECT 1 FROM (SELECT pg_snapshot_xip(?::pg_snapshot) AS x
                          UNION ALL SELECT generate_series(pg_snapshot_xmax(?::pg_snapshot)::text::bigint,
                                                           pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)::text::xid8) candidates
            WHERE pg_xact_status(x) = 'committed'
         ) AS others`,
        [mark, mark],
      );
      return row?.others !== false;
    },
    /**
     * Inside the run's transaction (a group), what it removed is invisible to other sessions
     * until it commits: the table counted from a session of its own, less the count the run
     * sees, is exactly the run's doing, whatever the application deleted meanwhile. A table the
     * run holds ACCESS EXCLUSIVE (truncated, altered, dropped) cannot be counted from outside, and
     * no one else could write it since: its whole loss is the run's. Without a transaction open
     * (a run per migration), the run's commits and the application's cannot be split.
     */
    async removedByRun(reader, _mark, table, before, now) {
      const [open] = await reader.all<{ open: boolean }>('SELECT txid_current_if_assigned() IS NOT NULL AS open');
      if (!open?.open) return null;
      try {
        const outside = await withPg(url, async (connection) => {
          await connection.exec("SET lock_timeout = '500ms'");
          const [row] = await connection.all<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quotePg(table)}`);
          return Number(row?.n ?? 0);
        });
        return outside - now;
      } catch {
        return before - now;
      }
    },
    // PostgreSQL refuses to drop a table others reference (unless CASCADE, which drops the key, not rows).
    dropCascades: async () => null,
    columns: pgColumns,
    facts: readPgFacts,
    inspect: inspectPg,
    quote: quotePg,
    lockWarnings: pgLockFindings,

    async exportTable(snapshot, table, out, header) {
      return withRestoredDump(snapshot, undefined, async (scratch, restored) => {
        if (!restored.ok) throw new GuardError('BACKUP_INVALID', `${snapshot} does not restore: ${restored.detail}`);
        return withPg(scratch.url, (connection) => exportRows(connection, table, out, header));
      });
    },
    async replaceTable(snapshot, table, force) {
      await requireSession();
      const { runDumpAsOneTransaction } = await tools();
      // The backup's rows of one table, in one transaction with the DELETE of the live ones. The
      // foreign-key triggers are off meanwhile (PostgreSQL would refuse the DELETE of rows the
      // same transaction puts back; this needs a superuser, or the SET privilege on
      // session_replication_role); at the end every key from or to the table is checked, and a
      // broken one rolls it all back unless forced.
      const { role } = await roles();
      const { keys, owner } = await withPg(url, async (connection) => ({
        keys: await keysAround(connection, table),
        owner: role !== null && (await ownsTable(connection, role, table)),
      }));
      // The rows are loaded (their CHECKs run) as the table's owner when that is the restore role;
      // session_replication_role is set before, as the URL's role.
      if (role !== null && !owner)
        warnAboutRoles(`restoring the rows of ${table} with superuser rights, not as ${role}: ${role} does not own ${table}`);
      const asRole = owner && role !== null ? [`SET ROLE ${quotePg(role)}`] : [];
      const check = keys.map(
        (key) =>
          `IF EXISTS (${key.orphans}) THEN RAISE EXCEPTION 'migrate-guard: broken foreign key: % references a missing % row', ${pgLiteral(key.child)}, ${pgLiteral(key.parent)}; END IF;`,
      );
      // The dump's SQL empties search_path for its session; the check names tables as we do.
      const after = [
        ...(asRole.length > 0 ? ['RESET ROLE'] : []),
        'RESET search_path',
        'SET session_replication_role = DEFAULT',
        ...(force || check.length === 0 ? [] : [`DO $check$ BEGIN ${check.join(' ')} END $check$`]),
      ];
      const before = ['SET session_replication_role = replica', ...asRole, `DELETE FROM ${quotePg(table)}`];
      const result = await runDumpAsOneTransaction(url, snapshot, ['--data-only', '--table', table], { before, after });
      if (!result.ok) {
        const broken = /migrate-guard: broken foreign key: (.+) references a missing (.+) row/.exec(result.detail);
        if (!broken)
          throw (
            (await poolerBehind('when the restore of a table failed')) ??
            new Error(`restoring the rows of ${table} failed and was rolled back: ${result.detail}`)
          );
        return { rows: 0, violations: [{ table: broken[1]!, row: null, parent: broken[2]! }], committed: false };
      }
      return withPg(url, async (connection) => ({
        rows: Number((await connection.all<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quotePg(table)}`))[0]?.n ?? 0),
        violations: await pgForeignKeyViolations(connection, [...new Set(keys.map((key) => key.child))]),
        committed: true,
      }));
    },

    manualRestore: (backup) => `pg_restore --clean --if-exists --single-transaction --no-owner --dbname '${redact(url)}' '${backup}'`,
    damage(error) {
      const code = (error as { code?: string }).code;
      return code === 'XX001' || code === 'XX002' ? code : null;
    },

    // backups.method 'restore-point' (see restore-point.ts); a restored copy is read as a database of its own.
    restorePoints: pgRestorePoints(url, name, database, (restored) => postgresEngine(restored, { stateDir, sessionProven: true })),
  };
  return engine;

  /**
   * A backup's dump: the facts are read in the very transaction pg_dump then dumps (an exported
   * snapshot), so the proof can demand that the restored dump shows exactly them; the proof's
   * restore reads the dump's bytes as they are written (see proveSnapshot).
   */
  async function snapshotToProve(target: string, applied: AppliedReader): Promise<DatabaseFacts> {
    const { dumpWhileRestoring } = await tools();
    return withPg(url, async (connection) => {
      await connection.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const [exported] = await connection.all<{ id: string }>('SELECT pg_export_snapshot() AS id');
        const { role } = await roles();
        const scratch = await scratchDatabase(role);
        const abandon = new AbortController();
        const { dumped, restored } = await dumpWhileRestoring(url, exported!.id, target, scratch.url, abandon.signal, role);
        // Read in the same snapshot while pg_dump reads it: the facts the restored copy must show.
        const reading = readPgFacts(connection, applied);
        reading.catch(() => undefined);
        const proof = (async (): Promise<SnapshotProof & { readonly sha256: string }> => {
          try {
            const { sha256 } = await dumped;
            const result = await restored;
            if (!result.ok) {
              const pooled = await poolerBehind("when the proof's pg_restore failed");
              if (pooled) throw pooled;
              return { integrity: result, facts: null, unreadable: result.detail, objects: [], sha256 };
            }
            const proven = { ...(await proofOf(scratch.engine, applied)), sha256 };
            // A copy that restores without what the snapshot showed: through a pooler, pg_dump's
            // or pg_restore's statements ran in sessions other than their own.
            const expected = await reading.catch(() => null);
            if (expected && proven.facts && !sameContent(expected, proven.facts)) {
              const pooled = await poolerBehind('when the proof found the copy differing from the database');
              if (pooled) throw pooled;
            }
            return proven;
          } finally {
            await scratch.drop().catch(() => undefined);
          }
        })();
        proof.catch(() => undefined);
        piped.set(target, { proof, abandon });
        try {
          // The exported snapshot lives as long as this transaction: pg_dump must have it first.
          await dumped;
          return await reading;
        } catch (error) {
          abandon.abort();
          piped.delete(target);
          await proof.catch(() => undefined);
          const pooled = await poolerBehind('when pg_dump --snapshot failed');
          if (pooled) throw pooled;
          throw error;
        }
      } finally {
        await connection.exec('ROLLBACK').catch(() => undefined);
      }
    });
  }

  /**
   * A step that needs a server session failed, or its copy came out wrong. When the URL turns out
   * to give no session of its own after all (the check before the step can miss a pooler that
   * happened to hand sessions out as a server would), that is the error, with its fix, never "the
   * backup failed verification". Probed up to three times: only a failure pays for it.
   */
  async function poolerBehind(step: string): Promise<GuardError | null> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const evidence = await transactionPoolingEvidence(url).catch(() => null);
      if (evidence) return transactionPoolerError(url, source, `${evidence.detail}, seen ${step}`, evidence.mode, false);
    }
    return null;
  }

  /**
   * An empty database on the same server, dropped (its sessions ended) when done; owned by `owner`
   * when given, the role dumps are restored into it as (its public schema is then theirs to fill).
   */
  async function scratchDatabase(owner: string | null = null): Promise<ScratchDatabase & { readonly url: string }> {
    await requireSession();
    const scratchName = scratchDatabaseName();
    await withPg(maintenance, async (connection) => {
      await sweepScratchDatabases(connection);
      await connection.exec(`CREATE DATABASE ${quotePg(scratchName)}${owner === null ? '' : ` OWNER ${quotePg(owner)}`}`);
    });
    const scratchUrl = withDatabase(url, scratchName);
    return {
      url: scratchUrl,
      engine: postgresEngine(scratchUrl, { stateDir, sessionProven: true }),
      drop: () => withPg(maintenance, (connection) => connection.exec(`DROP DATABASE IF EXISTS ${quotePg(scratchName)} WITH (FORCE)`)),
    };
  }

  /** A dump restored into a scratch database for `work`, then dropped whatever happens. */
  async function withRestoredDump<T>(
    dump: string,
    signal: AbortSignal | undefined,
    work: (scratch: ScratchDatabase & { readonly url: string }, restored: { ok: boolean; detail: string }) => Promise<T>,
  ): Promise<T> {
    const { restoreIntoEmpty } = await tools();
    const { role } = await roles();
    const scratch = await scratchDatabase(role);
    try {
      const restored = await restoreIntoEmpty(scratch.url, dump, { role, ...(signal ? { signal } : {}) });
      if (!restored.ok && !signal?.aborted) {
        const pooled = await poolerBehind('when pg_restore into a scratch database failed');
        if (pooled) throw pooled;
      }
      return await work(scratch, restored);
    } finally {
      await scratch.drop().catch(() => undefined);
    }
  }
}

/** The schema and row counts of two reads agree (only a hint here: the backup's proof compares them for real). */
function sameContent(expected: DatabaseFacts, actual: DatabaseFacts): boolean {
  return expected.schemaHash === actual.schemaHash && JSON.stringify(expected.tables) === JSON.stringify(actual.tables);
}

/** What a restored dump holds: the proof's facts and objects, read from the scratch database. */
function proofOf(scratch: Engine, applied: AppliedReader): Promise<SnapshotProof> {
  return scratch.read('readonly', async (reader) => ({
    integrity: { ok: true, detail: 'ok (pg_restore --single-transaction --exit-on-error into a scratch database)' },
    facts: await readPgFacts(reader, applied),
    unreadable: null,
    objects: (await pgSchemaObjects(reader)).map((object) => `${object.type} ${object.name}`),
  }));
}

/** Every foreign key from or to `table`, with the query that finds the rows it would leave pointing nowhere. */
async function keysAround(connection: PgConnection, table: string): Promise<{ child: string; parent: string; orphans: string }[]> {
  const keys = await connection.all<{ child: string; parent: string; definition: string }>(
    `SELECT c.relname AS child, p.relname AS parent, pg_get_constraintdef(k.oid) AS definition
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
      WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace AND (c.relname = ? OR p.relname = ?)`,
    [table, table],
  );
  return keys.flatMap((key) => {
    const match = /FOREIGN KEY \((.+?)\) REFERENCES (.+?)\((.+?)\)/.exec(key.definition);
    if (!match) return [];
    const childColumns = match[1]!.split(',').map((column) => column.trim());
    const parentColumns = match[3]!.split(',').map((column) => column.trim());
    const joined = childColumns.map((column, index) => `c.${column} = p.${parentColumns[index]}`).join(' AND ');
    const notNull = childColumns.map((column) => `c.${column} IS NOT NULL`).join(' AND ');
    return [
      {
        child: key.child,
        parent: key.parent,
        orphans: `SELECT 1 FROM ${quotePg(key.child)} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${match[2]} p WHERE ${joined})`,
      },
    ];
  });
}

/** Relations and types of the schema a dump does not hold: made by the run, dropped before a restore. */
/**
 * Whether this reader's snapshot shows a transaction that committed after `commit`: one of those
 * running as it committed, or one with a larger id. Unknown (`xid` null) counts as yes: the proof
 * then reports differing row counts instead of failing on them, and keeps schema and history strict.
 */
async function committedAfter(reader: Reader, commit: TransactionAtCommit): Promise<boolean> {
  if (commit.xid === null) return true;
  const [row] = await reader.all<{ others: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM (SELECT unnest(string_to_array(?, ',')::bigint[]) AS x
                      UNION ALL SELECT generate_series(?::bigint + 1, pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)) candidates
        WHERE x <> ?::bigint AND pg_xact_status(x::text::xid8) = 'committed' AND pg_visible_in_snapshot(x::text::xid8, pg_current_snapshot())
     ) AS others`,
    [commit.running.join(','), commit.xid, commit.xid],
  );
  return row?.others === true;
}

/** The tables of the schema the restore replaces, quoted for LOCK TABLE. */
async function writableTables(connection: PgConnection): Promise<string[]> {
  const rows = await connection.all<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  return rows.map((row) => quotePg(row.name));
}

async function objectsNotIn(connection: PgConnection, known: ReadonlySet<string>): Promise<string[]> {
  const rows = await connection.all<{ kind: string; name: string }>(
    `SELECT CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'TABLE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' END AS kind,
            c.relname AS name
       FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
     UNION ALL
     SELECT 'TYPE', t.typname FROM pg_type t
      WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'c', 'd') AND t.typrelid = 0`,
  );
  return rows
    .filter((row) => !known.has(`${row.kind} ${row.name}`))
    .map((row) => `DROP ${row.kind} IF EXISTS ${quotePg(row.name)} CASCADE`);
}

/**
 * No index left invalid (a failed `CREATE INDEX CONCURRENTLY` leaves one), no constraint left
 * `NOT VALID` on a table the run wrote, and — where the `amcheck` extension is installed —
 * `bt_index_check(heapallindexed)` of the B-tree indexes of the tables the run wrote (of every
 * table when that set is unknown), PostgreSQL's counterpart of SQLite's index-against-table check.
 */
async function pgIntegrity(reader: Reader, level: IntegrityLevel, changed?: ChangedSet): Promise<IntegrityResult> {
  const invalid = await reader.all<{ name: string }>(
    `SELECT i.indexrelid::regclass::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
      WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace`,
  );
  if (invalid.length > 0) return { ok: false, detail: `index(es) left invalid: ${invalid.map((row) => row.name).join(', ')}` };
  const known = changed !== undefined && changed.unknown === null;
  const tables = known ? [...changed.tables] : await listPgTables(reader);
  const notValid = await reader.all<{ name: string }>(
    `SELECT conrelid::regclass::text || '.' || conname AS name FROM pg_constraint
      WHERE NOT convalidated AND connamespace = current_schema()::regnamespace AND conrelid::regclass::text = ANY(?::text[])`,
    [tables.map(quoteIfNeeded)],
  );
  if (notValid.length > 0) return { ok: false, detail: `constraint(s) left NOT VALID: ${notValid.map((row) => row.name).join(', ')}` };
  if (level === 'quick') return { ok: true, detail: 'ok (no invalid index)' };
  const [amcheck] = await reader.all<{ installed: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck') AS installed",
  );
  if (!amcheck?.installed) {
    return {
      ok: true,
      detail: 'ok (no invalid index; amcheck is not installed, so index contents were not checked: CREATE EXTENSION amcheck)',
    };
  }
  const indexes = await reader.all<{ oid: number; name: string }>(
    `SELECT i.indexrelid::oid AS oid, i.indexrelid::regclass::text AS name FROM pg_index i
       JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
      WHERE am.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(?::text[])`,
    [tables],
  );
  for (const index of indexes) {
    try {
      await reader.all('SELECT bt_index_check(?::regclass, true)', [index.oid]);
    } catch (error) {
      return { ok: false, detail: `bt_index_check(${index.name}): ${(error as Error).message}` };
    }
  }
  return {
    ok: true,
    detail: `ok (no invalid index; bt_index_check of ${indexes.length} index(es) of ${known ? `what the run wrote: ${tables.join(', ') || 'no table'}` : 'every table'})`,
  };
}

/** regclass::text quotes a name only when it needs quotes. */
function quoteIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : quotePg(name);
}

/** A table's rows as reviewable INSERTs, read through a cursor (memory stays flat). */
async function exportRows(connection: PgConnection, table: string, out: string, header: readonly string[]): Promise<number> {
  const columns = await pgColumns(connection, table);
  if (columns.length === 0) throw new GuardError('USAGE', `no table ${JSON.stringify(table)} in the backup`);
  const list = columns.map(quotePg).join(', ');
  let rows = 0;
  await connection.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await connection.exec(`DECLARE rows_out NO SCROLL CURSOR FOR SELECT ${list} FROM ${quotePg(table)} ORDER BY ctid`);
    await writeStreamAtomic(out, async (write) => {
      for (const line of header) await write(`-- ${line}\n`);
      await write('BEGIN;\n');
      for (;;) {
        const batch = await connection.all<Record<string, unknown>>('FETCH 1000 FROM rows_out');
        if (batch.length === 0) break;
        for (const row of batch) {
          rows += 1;
          await write(`INSERT INTO ${quotePg(table)} (${list}) VALUES (${columns.map((column) => pgLiteral(row[column])).join(', ')});\n`);
        }
      }
      await write('COMMIT;\n');
    });
  } finally {
    await connection.exec('ROLLBACK').catch(() => undefined);
  }
  return rows;
}

/** A SQL literal for a value the pg driver gave back. */
export function pgLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'::bytea`;
  if (value instanceof Date) return `'${value.toISOString()}'`;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}
