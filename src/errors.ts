/**
 * Every failure the core reports is a GuardError with a stable `code`. The CLI maps `exitCode` to
 * the process exit code; library users switch on `code`. The original failure is always kept as
 * the native `cause`, so a restore or cleanup error never hides what went wrong first.
 */
export type GuardErrorCode =
  | 'USAGE'
  /** A tool this host needs (pg_dump, pg_restore, psql) is missing or too old: the host's problem, not the data's. */
  | 'TOOL_MISSING'
  | 'CONFIG_INVALID'
  /** A migration file that cannot be loaded or lacks what the run needs (`up`, or `down` for a revert): the project's mistake, named by file and line. */
  | 'PROJECT_FILE_INVALID'
  /** A database this version does not run (an unknown knex client or URL scheme, or MySQL/MariaDB for now): refused, never guessed. */
  | 'ENGINE_UNSUPPORTED'
  | 'DATABASE_MISSING'
  | 'NOT_SQLITE'
  | 'LOCK_HELD'
  /** PostgreSQL: a lock a migration needs stayed held by another session past the lock budget (`locks`); rolled back, nothing changed (exit 1). */
  | 'LOCK_BUDGET_EXHAUSTED'
  /** PostgreSQL reached through a pooler in transaction (or statement) mode: a run needs a server session of its own. */
  | 'TRANSACTION_POOLER'
  /** The live database stayed busy (SQLITE_BUSY, SQLITE_PROTOCOL) past the wait when first opened: exit 1, nothing changed. */
  | 'DATABASE_BUSY'
  | 'PREFLIGHT_FAILED'
  | 'MIGRATION_CHANGED'
  | 'UNKNOWN_MIGRATION'
  | 'NO_DOWN'
  | 'HOOK_FAILED'
  | 'BACKUP_FAILED'
  | 'BACKUP_UNVERIFIED'
  | 'BACKUP_INVALID'
  | 'INTERRUPTED'
  /** The disk filled up under a step that has no refusal of its own: the host's problem, exit 1 like any refusal. */
  | 'DISK_FULL'
  /** The disk reported an I/O error (EIO, SQLITE_IOERR) under a step with no refusal of its own: the host's problem, exit 1. */
  | 'IO_ERROR'
  /** A restore that failed before it changed anything: SQLite or PostgreSQL undid it whole (exit 1). */
  | 'RESTORE_FAILED'
  | 'RECOVERY_FAILED'
  /** A file read back (the run journal) that another account could have written, or that names what is not ours: refused, nothing done (exit 1). */
  | 'UNTRUSTED_FILE'
  /** The backup folder or a state file could be changed by another account (see fs/trust.ts): exit 1, opt out with --allow-insecure-dirs. */
  | 'UNSAFE_PATH';

/** Where in a project's file the mistake is: `line` and `column` count from 1, as editors do. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

interface GuardErrorOptions {
  readonly cause?: unknown;
  readonly exitCode?: ExitCode;
  readonly backup?: string;
  readonly pending?: readonly string[];
  readonly location?: SourceLocation;
  readonly context?: string;
}

/** Exit codes of the CLI contract: 1 refused (nothing changed), 3 critical (restore failed). */
export type ExitCode = 0 | 1 | 2 | 3 | 4;

export class GuardError extends Error {
  override readonly name: string = 'GuardError';
  readonly code: GuardErrorCode;
  readonly exitCode: ExitCode;
  /** A path the operator needs to act on, e.g. the backup to restore by hand. */
  readonly backup?: string;
  /** A guarded run refused once it knew its plan: the migrations that were pending (for its report). */
  readonly pending?: readonly string[];
  /** The file, line and column of a mistake in the project's own files. */
  readonly location?: SourceLocation;
  /** Lines that show the mistake (the offending line with a caret, a trimmed stack), printed under the message. */
  readonly context?: string;

  constructor(code: GuardErrorCode, message: string, options: GuardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    if (options.backup !== undefined) this.backup = options.backup;
    if (options.pending !== undefined) this.pending = options.pending;
    if (options.location !== undefined) this.location = options.location;
    if (options.context !== undefined) this.context = options.context;
  }

  /** The same refusal, saying which migrations were pending (kept as it was when it says so already). */
  withPending(pending: readonly string[]): GuardError {
    if (this.pending !== undefined) return this;
    const copy = new GuardError(this.code, this.message, {
      exitCode: this.exitCode,
      pending,
      ...(this.cause === undefined ? {} : { cause: this.cause }),
      ...(this.backup === undefined ? {} : { backup: this.backup }),
      ...(this.location === undefined ? {} : { location: this.location }),
      ...(this.context === undefined ? {} : { context: this.context }),
    });
    copy.stack = this.stack;
    return copy;
  }
}

/** The one-line text of any thrown value. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.message;
  return String(error);
}

/** The whole text of any thrown value, every line: why a migration failed (a database's DETAIL, HINT, CONTEXT). */
export function fullMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An engine's recogniser of one error object (see EngineDescriptor: diskFull, busy, ioError). */
export type ErrorRecogniser = (error: { readonly code?: unknown; readonly message?: unknown }) => boolean;

/** Whether `error`, anything in its `cause` chain or an AggregateError's members is what `matches` recognises. */
function anywhereIn(error: unknown, matches: ErrorRecogniser, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 8) return false;
  if (matches(error as { code?: unknown; message?: unknown })) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => anywhereIn(inner, matches, depth + 1))) return true;
  return anywhereIn((error as { cause?: unknown }).cause, matches, depth + 1);
}

/**
 * Whether a thrown value (or anything in its `cause` chain, or an AggregateError's members) is a
 * full disk: Node's ENOSPC/EDQUOT, or what an engine says of it (`engine`: SQLite's SQLITE_FULL,
 * PostgreSQL's SQLSTATE 53100; the registry's `engineDiskFull` asks every engine).
 */
export function isDiskFull(error: unknown, engine: ErrorRecogniser = () => false): boolean {
  return anywhereIn(
    error,
    (fields) =>
      fields.code === 'ENOSPC' ||
      fields.code === 'EDQUOT' ||
      (typeof fields.message === 'string' && /\bENOSPC\b|no space left on device/i.test(fields.message)) ||
      engine(fields),
  );
}

/**
 * Whether a thrown value (or its `cause` chain, or an AggregateError's members) is an I/O error the
 * disk reported: Node's EIO, or what an engine says of it (SQLite's SQLITE_IOERR).
 */
export function isIoError(error: unknown, engine: ErrorRecogniser = () => false): boolean {
  return anywhereIn(
    error,
    (fields) => fields.code === 'EIO' || (typeof fields.message === 'string' && /\bEIO\b/.test(fields.message)) || engine(fields),
  );
}
