import type { Knex } from 'knex';
import type { FileMode } from '../fs/file-mode.ts';

/**
 * What the runbook, the backup lifecycle and the checks need from a database engine, in their
 * words: open or refuse, lock, measure, snapshot (a backup), prove a snapshot, restore one into the
 * live database, read facts and run checks. SQLite implements it in `engines/sqlite/`; the shape
 * keeps PostgreSQL in view (a snapshot is a `pg_dump`, proving it is a scratch `pg_restore`, the
 * lock an advisory lock), so nothing above this seam names a file format, a PRAGMA or a driver.
 */
export type EngineKind = 'sqlite' | 'postgres' | 'mysql';

/** `full` reads every page and index entry; `quick` checks structure without cross-checking indexes. */
export type IntegrityLevel = 'full' | 'quick';

export interface IntegrityResult {
  readonly ok: boolean;
  /** `ok`, or the first problems the engine reported. */
  readonly detail: string;
}

/**
 * The least a check, a history or a proof needs: the rows of one statement, `?` placeholders.
 * A raw connection, a knex instance and a knex transaction all become one (`Engine.reader`), so a
 * check reads exactly what the executor it is given sees, uncommitted work included.
 */
export interface Reader {
  all<T = Record<string, unknown>>(sql: string, bindings?: readonly unknown[]): Promise<T[]>;
}

/** A row that references a parent row that does not exist. */
export interface ForeignKeyViolation {
  readonly table: string;
  /** The engine's row handle (SQLite's rowid), when it has one. */
  readonly row: string | null;
  readonly parent: string;
}

export interface ColumnShape {
  readonly name: string;
  readonly notNull: boolean;
  readonly hasDefault: boolean;
  /** The declared type, as the engine names it (for `column-type-change`); absent when not read. */
  readonly type?: string;
}

/**
 * What an engine knows of its own locks that a dry run's review reports: a statement (its index in
 * the migration's statements) that rewrites or locks a table for its whole duration.
 */
export interface EngineFinding {
  readonly rule: 'table-rewrite' | 'index-not-concurrent' | 'foreign-key-not-valid';
  readonly table: string;
  /** The table's rows before the migration. */
  readonly rows: number;
  readonly statement: number;
  readonly message: string;
}

/** Tables, their columns and row counts: what a dry run compares before and after a migration. */
export type SchemaShape = ReadonlyMap<string, { readonly columns: readonly ColumnShape[]; readonly rows: number }>;

/** What a database looked like: enough to prove a restore put back the same thing. */
export interface DatabaseFacts {
  readonly engine: EngineKind;
  readonly engineVersion: string;
  readonly schemaHash: string;
  /** Row count per table, keyed by table name. */
  readonly tables: Readonly<Record<string, number>>;
  readonly appliedMigrations: readonly string[];
  /** Facts only this engine has (SQLite: page size and count), for people reading a manifest. */
  readonly details: Readonly<Record<string, string | number>>;
}

/**
 * Which database this is, beyond the name it was reached by: what a backup's manifest records so
 * that a backup folder two databases share still tells their backups apart.
 */
export interface DatabaseIdentity {
  /** SQLite: the database file's real path (links resolved). Null on a server. */
  readonly path: string | null;
  /** PostgreSQL: the cluster's `system_identifier` (pg_control_system()); null for a file. */
  readonly systemIdentifier: string | null;
  /** PostgreSQL: the database's name in that cluster; null for a file. */
  readonly database: string | null;
}

/** A snapshot taken to be caught up later (see Engine.followSnapshot). */
export interface SnapshotFollower {
  /**
   * Called holding the database's write lock, before the first change: writes what was committed
   * since the snapshot into it and lets go of the snapshot. `applied` settles once the copy is read
   * back whole and proven to be the proven snapshot plus exactly those pages, showing the schema and
   * history of `expected` (the facts read under the same lock). Null: this snapshot cannot be
   * caught up (SQLite in rollback-journal mode): the backup is the snapshot as proven.
   */
  catchUp(expected: DatabaseFacts, applied: AppliedReader): Promise<{ readonly pages: number; readonly applied: Promise<CaughtUp> } | null>;
  /** Lets go of the snapshot without catching up (the run ended first). */
  release(): Promise<void>;
}

/** A snapshot brought up to date and proven: its checksum and facts now. */
export interface CaughtUp {
  readonly sha256: string;
  readonly facts: DatabaseFacts;
  /** Pages written into it. */
  readonly pages: number;
}

/** A snapshot proven restorable: its full integrity check and what it holds. */
export interface SnapshotProof {
  readonly integrity: IntegrityResult;
  /** Null when the snapshot could not be read far enough to tell (`unreadable` says why). */
  readonly facts: DatabaseFacts | null;
  readonly unreadable: string | null;
  /** Schema objects as `type name`, for `verify`. */
  readonly objects: readonly string[];
}

/** Who holds the run lock, for the message a refused run prints. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly since: string;
}

/** A live database found busy when first opened: the wait begins (`over: false`) and ends (`over: true`). */
export interface DatabaseWait {
  readonly database: string;
  /** What SQLite said, in words: `SQLITE_PROTOCOL: another connection … is recovering it after a crash`. */
  readonly reason: string;
  readonly waitedMs: number;
  /** How long it is waited for before the run is refused with DATABASE_BUSY. */
  readonly patienceMs: number;
  readonly over: boolean;
}

export interface RunLock {
  /** The holder whose lock we took over: a run that died without releasing it. */
  readonly tookOverFrom: LockHolder | null;
  release(): Promise<void>;
}

/**
 * What a run wrote: the tables whose b-trees it changed (under their names after the run), the
 * tables whose existing rows it updated, deleted or dropped, or — when any statement could not be
 * accounted for — why the whole database must count as changed.
 */
export interface ChangedSet {
  readonly tables: readonly string[];
  readonly rowsChanged: readonly string[];
  /** The statement (or reason) that makes the set unknowable; null when the set is complete. */
  readonly unknown: string | null;
  /**
   * A statement turned foreign-key enforcement on (SQLite: `PRAGMA foreign_keys = ON`): from then
   * on a DROP or DELETE may cascade into tables no statement names, so every table's rows are
   * compared whatever the rest of the set says.
   */
  readonly foreignKeysOn?: boolean;
}

/** One statement of a `.sql` migration: its text as written, and where it starts in the file (a string index). */
export interface SqlStatement {
  readonly text: string;
  readonly offset: number;
}

/** The database's own account of why a statement failed, as the engine reported it. */
export interface StatementFailure {
  /** All of it, never only its first line: PostgreSQL's DETAIL, HINT and CONTEXT included. */
  readonly message: string;
  /** PostgreSQL's SQLSTATE (`42601`), SQLite's result code (`SQLITE_ERROR`); null when it gave none. */
  readonly code: string | null;
  /** The code as people look it up: `SQLSTATE 42601`, `SQLITE_CONSTRAINT`. */
  readonly codeLabel: string | null;
  /** 1-based character position in the statement where the database located the error; null when it did not. */
  readonly position: number | null;
}

/** A knex instance on the database, and the way to stop the statement it is running. */
export interface KnexHandle {
  readonly knex: Knex;
  /**
   * Starts recording what the statements run through this handle write; the result reads it,
   * through a reader on the executor that ran them (inside a transaction, the engine may ask it).
   */
  watchWrites(): (reader: Reader) => Promise<ChangedSet>;
  /**
   * Interrupts the running statement and makes the next write fail, so a migration stops between
   * statements instead of finishing work the run is about to undo.
   */
  interrupt(): void;
  destroy(): Promise<void>;
}

/** How the history reads what ran: given a reader and the engine's table listing. */
export type AppliedReader = (reader: Reader) => Promise<readonly string[]>;

export type Progress = (done: number, total: number) => void;

/** A database the engine made for a job, and the way to throw it away. */
export interface ScratchDatabase {
  readonly engine: Engine;
  drop(): Promise<void>;
}

/** Which connection a read goes through. */
export type ReadMode =
  /** Writes no byte of the database's files, not even a shared-memory read mark: previews, status. */
  'untouched' | 'readonly' | 'readwrite';

export interface Engine {
  readonly kind: EngineKind;
  /** The database as people read it in a message and manifests store it: a path (a URL through `redact`, never with its password). */
  readonly name: string;
  /** What a snapshot of this engine is called in a message: `SQLite database`. */
  readonly snapshotLabel: string;
  /**
   * Null when `archive` (continuous WAL archiving with Litestream) and `restore --to` from it
   * work for this engine; otherwise the one line that says what does.
   */
  readonly pointInTimeAdvice: string | null;
  /** A backup file's extension: `.db` for SQLite, `.dump` for PostgreSQL (`.gz` is added when gzipped). */
  readonly snapshotExtension: string;
  /**
   * A file that belongs beside the database (lock holder, run journal, pre-restore copies):
   * `<db>.<suffix>` for SQLite. Absolute, so a journal still points right from another cwd.
   */
  sidecar(suffix: string): string;
  /** Which database this is (its real path; a server's own identity), as backups record it. */
  identity(): Promise<DatabaseIdentity>;

  /** Whether the database exists; refuses, untouched, anything that is not this engine's database. */
  probe(): Promise<'missing' | 'empty' | 'ready'>;
  /** Creates an empty database (a fresh install). */
  create(): Promise<void>;
  /** Bytes the database takes, committed-but-not-checkpointed WAL included. */
  size(): Promise<number>;
  /**
   * Permission bits for the files that hold this database's data or shape (exports, copies): the
   * database file's own, never wider (owner read/write kept); 0600 when there is no file (yet).
   */
  fileMode(): Promise<FileMode>;
  /** One migrate-guard job at a time per database; refuses with LOCK_HELD naming the holder. */
  lock(command: string): Promise<RunLock>;
  /**
   * The first contact with the live database, before anything else opens it: SQLite recovers a
   * crashed writer's WAL or rollback journal on one connection here, so no two connections race
   * that recovery. `write: false` (status, a dry run) only waits until a read that writes nothing
   * gets through. A busy database (SQLITE_BUSY, SQLITE_PROTOCOL) is waited for a bounded time,
   * told to `onWait`, which also hears of any later wait on opening this database; past the bound,
   * DATABASE_BUSY naming what holds it. Every opener of the live database does this on its own
   * when it was not called (silently).
   */
  settle(options: { readonly write: boolean; readonly onWait?: (wait: DatabaseWait) => void }): Promise<void>;

  /** Runs `work` with a reader on the live database; damage becomes a refusal naming the way out. */
  read<T>(mode: ReadMode, work: (reader: Reader) => Promise<T>): Promise<T>;
  /** The reader over a knex instance or transaction. */
  reader(knex: Knex): Reader;
  /** The knex instance migrations and checks run through (knex is loaded on first use). */
  openKnex(): Promise<KnexHandle>;
  /**
   * Splits a `.sql` migration by this engine's grammar (SQLite: CREATE TRIGGER … END; PostgreSQL:
   * dollar quotes, E'' strings, nested comments, BEGIN ATOMIC bodies), so the real run and the
   * dry run execute and list the same statements.
   */
  splitSql(sql: string): SqlStatement[];
  /**
   * Runs one statement of a `.sql` migration through `db` (a knex instance or transaction of this
   * engine's `openKnex`) exactly as written: knex's `?` placeholders do not apply to a file.
   */
  runSqlStatement(db: Knex, statement: string): Promise<void>;
  /** The database's own message, code and position when `error`, thrown running `statement`, is this engine's; null otherwise. */
  statementFailure(error: unknown, statement: string): StatementFailure | null;
  /** Whether schema changes roll back with a transaction (both engines in view: yes). */
  readonly transactionalDdl: boolean;

  /**
   * Writes a consistent, self-contained snapshot of the live database (a backup's bytes) to
   * `target`. With `provenWith` (the snapshot is a backup that `proveSnapshot` will prove), returns
   * the live database's facts as of that snapshot when the engine can read them in the snapshot's
   * own transaction (PostgreSQL: its proof restores the dump and must show them, and starts while
   * the dump is written); null when the snapshot file is itself what gets proven (SQLite).
   */
  snapshot(target: string, onProgress?: Progress, provenWith?: AppliedReader): Promise<DatabaseFacts | null>;
  /**
   * A snapshot that can later catch up with what the database committed since it, in time that
   * grows with what changed (SQLite): a rollout proves it while the application runs, and its
   * write lock waits only for the catch-up. Absent: the snapshot is the backup as taken.
   */
  followSnapshot?(target: string, onProgress?: Progress): Promise<SnapshotFollower>;
  /** Whether `file` is, by its first bytes, a snapshot of this engine (before anything opens it). */
  isSnapshot(file: string): Promise<boolean>;
  /** Proves a snapshot restorable: the full integrity check, and the facts it holds. Aborting interrupts it. */
  proveSnapshot(file: string, applied: AppliedReader, signal?: AbortSignal): Promise<SnapshotProof>;
  /** Runs `work` with a reader on a snapshot (restore-table, the checks a restore source must pass). */
  readSnapshot<T>(file: string, work: (reader: Reader) => Promise<T>): Promise<T>;
  /**
   * Puts a snapshot back into the live database, safe while the application holds it open, and
   * proves it with `steps.prove` reading the database as the restore left it. Throws when the copy
   * failed (the engine undid it: the database is as it was).
   */
  restore<T>(snapshot: string, steps: RestoreSteps<T>): Promise<T>;
  /** Removes a snapshot that will not be kept, and anything the engine left beside it. */
  discardSnapshot(file: string): Promise<void>;
  /** An empty database of this engine to work in (a drill's restore, a baseline's rehearsal), in `folder` where it is a file. */
  scratch(folder: string): Promise<ScratchDatabase>;
  /**
   * A copy of the live database to rehearse on, taken without writing to the live one (a file
   * copy through a read that writes nothing; a scratch database restored from a fresh dump).
   */
  rehearsal(folder: string, onProgress?: Progress): Promise<ScratchDatabase>;

  /**
   * The integrity check. With `changed` (a complete set), `full` proves what the run could have
   * touched at full strength: the quick check of the whole database plus the full check of every
   * table (and its indexes) in the set; otherwise the full check of everything.
   */
  integrity(reader: Reader, level: IntegrityLevel, changed?: ChangedSet): Promise<IntegrityResult>;
  /**
   * Rows pointing at rows that do not exist. With `changed` (complete): only where a violation
   * can have appeared, in the tables written and in those pointing at tables whose rows changed.
   */
  foreignKeyViolations(reader: Reader, changed?: ChangedSet): Promise<ForeignKeyViolation[]>;
  listTables(reader: Reader): Promise<string[]>;
  /**
   * A mark read on the connection the migrations run on as they begin, for `removedByRun`. The
   * restore's proof tells the application's rows apart the same way (SQLite's `data_version`).
   */
  commitMark(reader: Reader): Promise<string>;
  /**
   * Whether another session committed since `mark` (read on the same connection), as `reader`
   * sees it now. A group's rollback proof compares row counts only when none did: on PostgreSQL
   * the application keeps committing while the run's transaction is open (SQLite's group holds the
   * write lock, so there nobody can).
   */
  committedSince(reader: Reader, mark: string): Promise<boolean>;
  /**
   * How many of `table`'s rows the run itself removed, told apart from deletes other connections
   * (the application) committed meanwhile: `before` rows when the run began (`mark`), `now` as
   * `reader` (the migrations' connection, inside their transaction if one is open) sees it.
   * Null when the engine cannot tell (the application committed during a run SQLite cannot split;
   * a PostgreSQL run with no transaction open).
   */
  removedByRun(reader: Reader, mark: string, table: string, before: number, now: number): Promise<number | null>;
  /**
   * When, on `reader`'s connection, dropping a table deletes the rows of the tables pointing at it
   * (SQLite with `PRAGMA foreign_keys` on: the usual table rebuild then empties its children): the
   * statements that turn that off and back on, for the one-line fix. Null when drops do not cascade.
   */
  dropCascades(reader: Reader): Promise<{ readonly off: string; readonly on: string } | null>;
  /** Column names of a table, in order. */
  columns(reader: Reader, table: string): Promise<string[]>;
  facts(reader: Reader, applied: AppliedReader): Promise<DatabaseFacts>;
  inspect(reader: Reader): Promise<SchemaShape>;
  /** Quotes an identifier, so a table called `x"; DROP TABLE y; --` stays a name. */
  quote(name: string): string;
  /**
   * What a dry run's review should report about how the engine locks: statements that rewrite a
   * table of at least `largeTableRows` rows, build an index that blocks its writes, or add a
   * constraint that scans it under lock (`before`: the tables as they were). SQLite locks the
   * whole file for any write (the review's long-lock measures that), so it has nothing to add.
   */
  lockWarnings(statements: readonly string[], before: SchemaShape, largeTableRows: number): EngineFinding[];

  /** A table's rows from a snapshot as reviewable SQL in `out` (written atomically, with `mode`); the row count. */
  exportTable(snapshot: string, table: string, out: string, header: readonly string[], mode: FileMode): Promise<number>;
  /** Replaces a table's rows with a snapshot's in one transaction; rolled back on FK violations unless forced. */
  replaceTable(
    snapshot: string,
    table: string,
    force: boolean,
  ): Promise<{ readonly rows: number; readonly violations: readonly ForeignKeyViolation[]; readonly committed: boolean }>;

  /** The command an operator runs to put a backup back by hand, with the application stopped. */
  manualRestore(backup: string): string;

  /** The engine's code when `error` means the database itself is damaged (not a bug of ours), else null. */
  damage(error: unknown): string | null;
}

/** What a restore does around its copy, in the engine's own locking. */
export interface RestoreSteps<T> {
  readonly onProgress?: Progress;
  /**
   * Runs once the restore holds the database's write lock and before it changes anything: what
   * the database holds then (every commit the application made before it) can be kept, through
   * the `snapshot` it is given (the engine's snapshot, read where the lock allows). An application
   * that writes meanwhile waits; none of its commits falls between this and the copy.
   */
  readonly beforeChange?: (snapshot: (target: string, onProgress?: Progress) => Promise<void>) => Promise<void>;
  /**
   * Reads the restored database. `othersWrote`: another connection committed since the restore
   * (the application, writing on top of it), so row counts may legitimately differ from the backup.
   */
  prove(reader: Reader, othersWrote: boolean): Promise<T>;
}
