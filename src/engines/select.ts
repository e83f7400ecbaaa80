import path from 'node:path';
import type { Engine } from './contract.ts';
import { databasePathFromUrl } from './sqlite/file.ts';
import { sqliteEngine } from './sqlite/engine.ts';

/**
 * The engine for a database as `--db` / `DATABASE_URL` names it, already resolved to an absolute
 * location by `resolveLocations`. SQLite is the only engine today; the URL's scheme will choose.
 */
export function engineFor(database: string): Engine {
  return sqliteEngine(path.resolve(database));
}

/** A `DATABASE_URL` (or `--db`, or a knexfile's connection) as the location `engineFor` takes. */
export function resolveDatabaseLocation(url: string, cwd: string): string {
  return databasePathFromUrl(url, cwd);
}
