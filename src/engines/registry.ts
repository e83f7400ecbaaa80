import { GuardError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { EngineKind } from './contract.ts';
import { refuseUnparsableCredentials } from './credentials.ts';
import { schemeOf, type EngineDescriptor } from './descriptor.ts';
import { mysqlDescriptor } from './mysql/descriptor.ts';
import { postgresDescriptor } from './postgres/descriptor.ts';
import { sqliteDescriptor } from './sqlite/descriptor.ts';

/**
 * The engines this version runs, one line each. A descriptor is light (no driver, no engine
 * code): the registry decides which engine a `--db`, `DATABASE_URL` or knexfile names, once,
 * and `Locations` carries the kind; `engineFor` builds that engine, loading its driver on first use.
 */
export const ENGINES: readonly EngineDescriptor[] = [sqliteDescriptor, postgresDescriptor, mysqlDescriptor];

/**
 * Databases people name that this version does not run yet. They are recognised so that they are
 * refused in one line, never taken for another engine (a `mysql2` knexfile once migrated a new
 * SQLite file instead). An engine that lands moves from here to ENGINES.
 */
const NOT_YET: readonly { readonly label: string; readonly schemes: readonly string[]; readonly knexClients: readonly string[] }[] = [];

/** The engine that `kind` names. */
export function descriptorOf(kind: EngineKind): EngineDescriptor {
  const descriptor = ENGINES.find((engine) => engine.kind === kind);
  if (!descriptor) throw new Error(`no engine registered for ${kind}`);
  return descriptor;
}

/** What a `--db` / `DATABASE_URL` may be, for messages: `file:, sqlite: or a path (SQLite); postgres://, postgresql:// (PostgreSQL)`. */
export function supportedLocations(): string {
  return ENGINES.map((engine) => {
    const schemes = engine.schemes.map((scheme) => (engine.takesPaths ? `${scheme}:` : `${scheme}://`));
    return `${schemes.join(', ')}${engine.takesPaths ? ' or a path' : ''} (${engine.label})`;
  }).join('; ');
}

/** The knex clients this version runs, for messages: `sqlite3, better-sqlite3 (SQLite); pg, postgres, postgresql (PostgreSQL)`. */
export function supportedClients(): string {
  return ENGINES.map((engine) => `${engine.knexClients.join(', ')} (${engine.label})`).join('; ');
}

/**
 * The engine a `--db` / `DATABASE_URL` / knexfile connection string names, by its scheme (a path
 * is SQLite). Anything else is refused (USAGE-like, exit 1, nothing touched), naming the scheme
 * and what is supported. `source` says where the location came from (`--db`, `DATABASE_URL`, …).
 */
export function engineOfLocation(location: string, source: string): EngineDescriptor {
  // First: with credentials that do not parse, even the refusals below could not hide the password.
  refuseUnparsableCredentials(location, source);
  const engine = ENGINES.find((candidate) => candidate.takes(location));
  if (engine) return engine;
  const scheme = schemeOf(location) ?? '';
  const planned = NOT_YET.find((entry) => entry.schemes.includes(scheme));
  const named = `${source} "${redact(location.trim())}"`;
  if (planned) {
    throw new GuardError(
      'ENGINE_UNSUPPORTED',
      `${named}: ${planned.label} is not supported yet by this version of migrate-guard; supported: ${supportedLocations()}. Nothing was changed`,
    );
  }
  throw new GuardError(
    'ENGINE_UNSUPPORTED',
    `${named}: the scheme ${scheme}: is not a database migrate-guard supports; supported: ${supportedLocations()} (a file whose name has a colon: write it as ./name). Nothing was changed`,
  );
}

/**
 * The engine a knexfile's `client` names (knex's names: `pg`, `sqlite3`, …). An unknown client,
 * or one this version does not run yet, is refused naming it and the supported ones.
 */
export function engineOfClient(client: unknown, source: string): EngineDescriptor {
  const name = typeof client === 'string' ? client.trim().toLowerCase() : '';
  const engine = ENGINES.find((candidate) => candidate.knexClients.includes(name));
  if (engine) return engine;
  const shown = typeof client === 'string' ? `'${client}'` : typeof client === 'function' ? 'a class' : String(client);
  const planned = NOT_YET.find((entry) => entry.knexClients.includes(name));
  if (planned) {
    throw new GuardError(
      'ENGINE_UNSUPPORTED',
      `${source}: client ${shown} is ${planned.label}, which is not supported yet by this version of migrate-guard; supported: ${supportedClients()}. Nothing was changed`,
    );
  }
  throw new GuardError(
    'ENGINE_UNSUPPORTED',
    `${source}: client ${shown} is not a database migrate-guard supports; supported: ${supportedClients()}. Nothing was changed`,
  );
}

/** A `--db` / `DATABASE_URL` resolved: which engine, and the location that engine takes. */
export function resolveLocation(location: string, cwd: string, source: string): { readonly engine: EngineKind; readonly database: string } {
  const engine = engineOfLocation(location, source);
  return { engine: engine.kind, database: engine.locate(location, cwd) };
}
