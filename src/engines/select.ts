import path from 'node:path';
import { GuardError } from '../errors.ts';
import type { Engine, EngineKind } from './contract.ts';
import { sqliteEngine } from './sqlite/engine.ts';
import { postgresEngine } from './postgres/engine.ts';
import { mysqlEngine } from './mysql/engine.ts';
import { configurePgRoles } from './postgres/roles.ts';
import { descriptorOf, engineOfLocation } from './registry.ts';

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
   * PostgreSQL: the URL every connection uses when the database's own URL goes through a pooler
   * (`DIRECT_URL`, `--direct-url`, `directUrl`); the database URL still finds and names the database.
   */
  readonly directUrl?: string | null | undefined;
}

/** How each engine is built for its location. The pg driver is loaded only when a PostgreSQL engine first connects. */
const BUILDERS: Readonly<Record<EngineKind, (database: string, options: EngineOptions) => Engine>> = {
  sqlite: (database) => sqliteEngine(path.resolve(database)),
  postgres: (database, options) =>
    postgresEngine(database, { stateDir: path.resolve(options.stateDir ?? 'backups'), directUrl: options.directUrl }),
  mysql: (database, options) => mysqlEngine(database, { stateDir: path.resolve(options.stateDir ?? 'backups') }),
};

/** The engine for a database as `Locations` names it: its `engine` kind, and its `database` (a path, a URL). */
export function engineFor(database: string, options: EngineOptions = {}): Engine {
  const kind = options.kind ?? engineOfLocation(database, 'database').kind;
  if (kind !== 'postgres' && options.directUrl) {
    throw new GuardError(
      'USAGE',
      `DIRECT_URL is set, but the database is the ${kind} database ${database}: DIRECT_URL is for a PostgreSQL database reached through a pooler; unset it, or check --db / DATABASE_URL`,
    );
  }
  return BUILDERS[kind](database, options);
}

/**
 * The engine that proves a backup taken from an engine of `kind`: a SQLite backup is a file that
 * needs nothing else; a PostgreSQL dump is restored into a scratch database on the server the
 * live database (`database`) is on, since its manifest keeps the URL without its password.
 */
export function engineForBackup(kind: EngineKind, source: string, database: string | undefined, options: EngineOptions = {}): Engine {
  // Only the engine's reads of a snapshot file are used: its `source` is a name, never opened. It needs no server: a DIRECT_URL is not for it.
  if (kind === 'sqlite')
    return engineFor(descriptorOf('sqlite').takes(source) ? source : 'backup.db', { ...options, kind: 'sqlite', directUrl: null });
  const label = descriptorOf(kind).labels.snapshot;
  const server = descriptorOf(kind).label;
  if (database === undefined || (options.kind ?? engineOfLocation(database, 'database').kind) !== kind) {
    throw new GuardError('USAGE', `${source} is a ${label}: it is proven on a ${server} server; give the database (--db / DATABASE_URL)`);
  }
  return engineFor(database, { ...options, kind });
}

/**
 * Settings every engine of this process takes (the CLI sets them once from the config): the role
 * PostgreSQL restores run as, and where an engine's warnings go.
 */
export function configureEngines(settings: { readonly postgresProofRole: string | null; readonly warn: (message: string) => void }): void {
  configurePgRoles({ proofRole: settings.postgresProofRole, warn: settings.warn });
}
