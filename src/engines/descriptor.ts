import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine, EngineFinding, EngineKind, EngineLabels } from './contract.ts';

/**
 * What an engine is, as the registry needs it before any of the engine is loaded: which databases
 * it takes (URL schemes, a plain path, knex clients), how messages name it and what it can do. It
 * imports nothing heavy (no driver, no engine code), so resolving where the database is costs
 * nothing; the engine itself is built later from the kind resolved here.
 */
export interface EngineDescriptor {
  /** The engine's name in manifests, `--json` and code (`Engine.kind`): unique among the registered engines. */
  readonly kind: EngineKind;
  /** How messages name it: `SQLite`, `PostgreSQL`. */
  readonly label: string;
  /** URL schemes (lower case, without the `:`) a `--db` / `DATABASE_URL` of this engine starts with. */
  readonly schemes: readonly string[];
  /** Whether a location without a scheme (a path) names this engine's database. At most one engine says so. */
  readonly takesPaths: boolean;
  /** knex `client` values (as a knexfile writes them) whose databases this engine runs. */
  readonly knexClients: readonly string[];
  readonly capabilities: {
    /** DDL runs inside a transaction and rolls back with it (a failed migration can be rolled back, not restored). */
    readonly transactionalDdl: boolean;
    /** A restore to a point in time (SQLite: the Litestream WAL archive); the engine then has `pointInTime`. */
    readonly pointInTime: boolean;
    /**
     * Its database is on a server, reached by a URL: a `DIRECT_URL` (the way around a pooler)
     * applies to it, and its backups are proven on that server (given the live database).
     */
    readonly server: boolean;
  };
  /** Words for messages, so that each engine says what it really does. */
  readonly labels: EngineLabels;
  /**
   * Loads the engine's code (and nothing of its driver until it connects): called only once a
   * command needs the engine, never to resolve where the database is.
   */
  load(): Promise<EngineModule>;
  /** The review rules its `lockWarnings` report (`index-not-concurrent`, …): the rule table says which engines do. */
  readonly findings?: readonly EngineFinding['rule'][];
  /** Takes the settings of this process (the CLI's config, where warnings go) before any engine is built. */
  configure?(settings: EngineSettings): void;
  /** Whether one error object (not its causes: the caller walks them) is this engine saying the disk is full. */
  diskFull?(error: ErrorFields): boolean;
  /** Whether one error object is this engine saying the database is held or being recovered by another connection. */
  busy?(error: ErrorFields): boolean;
  /** Whether one error object is this engine reporting an I/O error of the disk. */
  ioError?(error: ErrorFields): boolean;
  /** Whether a `--db` / `DATABASE_URL` location names this engine's database (by its scheme, or as a path). */
  takes(location: string): boolean;
  /**
   * The location as `Locations` keeps it and the engine takes it (SQLite: an absolute path;
   * PostgreSQL: the URL), from a `--db` / `DATABASE_URL` / knexfile connection string this
   * engine takes. Throws a USAGE GuardError when it names no database.
   */
  locate(location: string, cwd: string): string;
  /**
   * The location a knexfile `connection` object names for this engine (`{ filename }`,
   * `{ connectionString }`, `{ host, database, … }`), or null when it names none.
   */
  fromKnexConnection(connection: Readonly<Record<string, unknown>>, cwd: string): string | null;
  /** Hint for a knexfile whose connection names no database: what a usable one looks like. */
  readonly knexConnectionHint: string;
}

/** Settings every engine of this process takes, set once (the CLI does, from the config). */
export interface EngineSettings {
  readonly config: ResolvedConfig;
  readonly warn: (message: string) => void;
}

/** The fields of a thrown value an engine's recognisers read. */
export interface ErrorFields {
  readonly code?: unknown;
  readonly message?: unknown;
}

/** How an engine is built, once per command, from what `Locations` resolved. */
export interface EngineOptions {
  /**
   * Where the engine keeps the run's files when its database has no "beside" (a server): the
   * backup folder. SQLite keeps them beside the database file.
   */
  readonly stateDir?: string | undefined;
  /**
   * The engine, as `Locations.engine` resolved it from what the user named. Without it (a library
   * caller that gives only a location) the registry reads the location as `--db` would be read,
   * refusing what no engine takes.
   */
  readonly kind?: EngineKind | undefined;
  /**
   * A server engine: the URL every connection uses when the database's own URL goes through a
   * pooler (`DIRECT_URL`, `--direct-url`, `directUrl`); the database URL still finds and names the database.
   */
  readonly directUrl?: string | null | undefined;
}

/** What an engine's folder exports through its descriptor's `load()`. */
export interface EngineModule {
  /** The engine for a database as `Locations` names it (`database`: a path, a URL). */
  engine(database: string, options: EngineOptions): Engine;
  /**
   * The engine that proves and reads a backup this engine took, whose manifest names `source`:
   * a file engine needs nothing else; a server engine proves it on the server of `live` (the
   * database the command names, of its kind), and refuses (USAGE) without one of its own kind.
   */
  backupEngine(source: string, live: { readonly database: string; readonly kind: EngineKind } | undefined, options: EngineOptions): Engine;
}

/**
 * The scheme of a location (`postgres` of `postgres://…`, `file` of `file:app.db`), lower case,
 * or null for a plain path. A single letter is a Windows drive (`C:\data\app.db`), not a scheme.
 */
export function schemeOf(location: string): string | null {
  const match = /^([a-z][a-z0-9+.-]+):/i.exec(location.trim());
  return match ? match[1]!.toLowerCase() : null;
}

/** The `takes` of an engine known by its schemes (and, for one engine, by a plain path). */
export function takesBy(schemes: readonly string[], takesPaths: boolean): (location: string) => boolean {
  return (location) => {
    const scheme = schemeOf(location);
    return scheme === null ? takesPaths : schemes.includes(scheme);
  };
}
