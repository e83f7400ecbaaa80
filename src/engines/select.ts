import path from 'node:path';
import { GuardError } from '../errors.ts';
import type { Engine, EngineKind } from './contract.ts';
import { databasePathFromUrl } from './sqlite/file.ts';
import { sqliteEngine } from './sqlite/engine.ts';
import { postgresEngine } from './postgres/engine.ts';
import { configurePgRoles } from './postgres/roles.ts';
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

/**
 * The engine that proves a backup taken from an engine of `kind`: a SQLite backup is a file that
 * needs nothing else; a PostgreSQL dump is restored into a scratch database on the server the
 * live database (`database`) is on, since its manifest keeps the URL without its password.
 */
export function engineForBackup(kind: EngineKind, source: string, database: string | undefined, options: EngineOptions = {}): Engine {
  if (kind === 'sqlite') return engineFor(isPostgresUrl(source) ? 'backup.db' : source, options);
  if (database === undefined || !isPostgresUrl(database)) {
    throw new GuardError('USAGE', `${source} is a PostgreSQL dump: it is proven on a PostgreSQL server; give the database (--db / DATABASE_URL)`);
  }
  return engineFor(database, options);
}

/** A `DATABASE_URL` (or `--db`, or a knexfile's connection) as the location `engineFor` takes. */
export function resolveDatabaseLocation(url: string, cwd: string): string {
  refuseUnparsableCredentials(url.trim());
  return isPostgresUrl(url) ? url.trim() : databasePathFromUrl(url, cwd);
}

/**
 * A user name or password that does not parse (an unencoded `#`, `?`, `/` or a stray `%`) would be
 * taken for part of the host, path or fragment, and then printed, stored and logged as such,
 * password included: refused, without quoting it.
 */
function refuseUnparsableCredentials(url: string): void {
  const refuse = () =>
    new GuardError(
      'USAGE',
      'DATABASE_URL (or --db) has a user name or password that does not parse: percent-encode its special characters (# is %23, ? is %3F, / is %2F, @ is %40, % is %25)',
    );
  const decodes = (text: string) => {
    try {
      decodeURIComponent(text);
      return true;
    } catch {
      return false;
    }
  };
  if (isPostgresUrl(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw refuse();
    }
    if (!decodes(parsed.username) || !decodes(parsed.password)) throw refuse();
    return;
  }
  // sqlite://user:pass@/srv/app.db, file://…: the authority runs to the first `/`.
  const authority = /^(?:sqlite|file):\/\/([^/]*)/i.exec(url)?.[1] ?? '';
  const at = authority.lastIndexOf('@');
  if (at === -1) return;
  const userinfo = authority.slice(0, at);
  if (/[#?]/.test(userinfo) || !decodes(userinfo)) throw refuse();
}

/**
 * Settings every engine of this process takes (the CLI sets them once from the config): the role
 * PostgreSQL restores run as, and where an engine's warnings go.
 */
export function configureEngines(settings: { readonly postgresProofRole: string | null; readonly warn: (message: string) => void }): void {
  configurePgRoles({ proofRole: settings.postgresProofRole, warn: settings.warn });
}
