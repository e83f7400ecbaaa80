import type { EngineKind } from './contract.ts';

/**
 * What an engine is, as the registry needs it before any of the engine is loaded: which databases
 * it takes (URL schemes, a plain path, knex clients), how messages name it and what it can do. It
 * imports nothing heavy (no driver, no engine code), so resolving where the database is costs
 * nothing; the engine itself is built later from the kind resolved here.
 */
export interface EngineDescriptor {
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
    /** A restore to a point in time (SQLite: the Litestream WAL archive). */
    readonly pointInTime: boolean;
  };
  /** Words for messages: how it proves integrity, what a snapshot is. */
  readonly labels: {
    readonly integrity: string;
    readonly snapshot: string;
  };
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
