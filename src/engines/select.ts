import path from 'node:path';
import type { Engine } from './contract.ts';
import { databasePathFromUrl } from './sqlite/file.ts';
import { sqliteEngine } from './sqlite/engine.ts';
import { postgresEngine } from './postgres/engine.ts';
import { isPostgresUrl } from './postgres/url.ts';

export interface EngineOptions {
  /**
   * Where the engine keeps the run's files when its database has no "beside" (a server): the
   * backup folder. SQLite keeps them beside the database file.
   */
  readonly stateDir?: string;
}

/**
 * The engine for a database as `--db` / `DATABASE_URL` names it, already resolved by
 * `resolveDatabaseLocation`: a `postgres://` URL is PostgreSQL, anything else a SQLite file.
 * The pg driver is loaded only when a PostgreSQL engine first connects.
 */
export function engineFor(database: string, options: EngineOptions = {}): Engine {
  if (isPostgresUrl(database)) return postgresEngine(database, { stateDir: path.resolve(options.stateDir ?? 'backups') });
  return sqliteEngine(path.resolve(database));
}

/** A `DATABASE_URL` (or `--db`, or a knexfile's connection) as the location `engineFor` takes. */
export function resolveDatabaseLocation(url: string, cwd: string): string {
  return isPostgresUrl(url) ? url.trim() : databasePathFromUrl(url, cwd);
}
