import { GuardError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { ErrorRecogniser } from '../errors.ts';
import type { EngineFinding, EngineKind } from './contract.ts';
import { refuseUnparsableCredentials } from './credentials.ts';
import { schemeOf, type EngineDescriptor, type EngineSettings } from './descriptor.ts';
import { mysqlDescriptor } from './mysql/descriptor.ts';
import { postgresDescriptor } from './postgres/descriptor.ts';
import { sqliteDescriptor } from './sqlite/descriptor.ts';

/**
 * The engines this version runs, one line each: adding an engine is its folder under `engines/`
 * and one line here. A descriptor is light (no driver, no engine code): the registry decides
 * which engine a `--db`, `DATABASE_URL` or knexfile names, once, and `Locations` carries the kind;
 * `engineFor` loads that engine's code (`descriptor.load()`) and builds it, its driver loaded on
 * first use. The first engine that takes plain paths is the default (`./database.db`).
 */
export const ENGINES: readonly EngineDescriptor[] = [sqliteDescriptor, postgresDescriptor, mysqlDescriptor];

/** A registered engine's descriptor. */
export type RegisteredEngine = EngineDescriptor;

const ALL = ENGINES;

/** Every registered kind, for a manifest's check. */
export const ENGINE_KINDS: readonly [EngineKind, ...EngineKind[]] = [ENGINES[0]!.kind, ...ALL.slice(1).map((engine) => engine.kind)];

/**
 * The engine manifests of the first format were written by (`migrate-guard-backup/1`, before a
 * manifest named its engine): the default engine's.
 */
export const FIRST_FORMAT_ENGINE: EngineKind = ENGINES[0]!.kind;

/** The database used when nothing names one: `./database.db`, for the engine that takes paths. */
export function defaultDatabase(cwd: string): { readonly engine: EngineKind; readonly database: string } {
  return resolveLocation('database.db', cwd, 'the default database');
}

/** Hands the process's settings to every engine that takes them, before any is built. */
export function configureEngines(settings: EngineSettings): void {
  for (const engine of ENGINES as readonly EngineDescriptor[]) engine.configure?.(settings);
}

/** Whether one error object is a registered engine saying the disk is full (see errors.ts isDiskFull). */
export const engineDiskFull: ErrorRecogniser = (error) => ALL.some((engine) => engine.diskFull?.(error) === true);

/** Whether one error object is a registered engine reporting an I/O error of the disk (see errors.ts isIoError). */
export const engineIoError: ErrorRecogniser = (error) => ALL.some((engine) => engine.ioError?.(error) === true);

/** Whether a thrown value is a registered engine saying the database is held or being recovered by another connection. */
export function isDatabaseBusy(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  return ALL.some((engine) => engine.busy?.(error as { code?: unknown }) === true);
}

/**
 * Databases people name that this version does not run yet. They are recognised so that they are
 * refused in one line, never taken for another engine (a `mysql2` knexfile once migrated a new
 * SQLite file instead). An engine that lands moves from here to ENGINES.
 */
const NOT_YET: readonly { readonly label: string; readonly schemes: readonly string[]; readonly knexClients: readonly string[] }[] = [];

/** The engine that `kind` names. */
export function descriptorOf(kind: EngineKind): RegisteredEngine {
  const descriptor = ALL.find((engine) => engine.kind === kind);
  if (!descriptor) throw new Error(`no engine registered for ${kind}`);
  return descriptor;
}

/** What a `--db` / `DATABASE_URL` may be, for messages: `file:, sqlite: or a path (SQLite); postgres://, postgresql:// (PostgreSQL)`. */
export function supportedLocations(): string {
  return ALL.map((engine) => {
    const schemes = engine.schemes.map((scheme) => (engine.takesPaths ? `${scheme}:` : `${scheme}://`));
    return `${schemes.join(', ')}${engine.takesPaths ? ' or a path' : ''} (${engine.label})`;
  }).join('; ');
}

/** The engines on a server (a `DIRECT_URL` applies to them), for messages: `PostgreSQL`. */
export function serverLabels(): string {
  return ALL.filter((engine) => engine.capabilities.server)
    .map((engine) => engine.label)
    .join(' or ');
}

/** The kinds of the engines that report `rule` from their own lock warnings, for the review's rule table. */
export function enginesReporting(rule: EngineFinding['rule']): EngineKind {
  return ALL.filter((engine) => engine.findings?.includes(rule))
    .map((engine) => engine.kind)
    .join(', ');
}

/** How the engines prove a backup, for messages about backups of any engine: `integrity_check or the scratch pg_restore`. */
export function proofLabels(): string {
  return ALL.map((engine) => engine.labels.proof).join(' or ');
}

/** The knex clients this version runs, for messages: `sqlite3, better-sqlite3 (SQLite); pg, postgres, postgresql (PostgreSQL)`. */
export function supportedClients(): string {
  return ALL.map((engine) => `${engine.knexClients.join(', ')} (${engine.label})`).join('; ');
}

/**
 * The engine a `--db` / `DATABASE_URL` / knexfile connection string names, by its scheme (a path
 * is SQLite). Anything else is refused (USAGE-like, exit 1, nothing touched), naming the scheme
 * and what is supported. `source` says where the location came from (`--db`, `DATABASE_URL`, …).
 */
export function engineOfLocation(location: string, source: string): RegisteredEngine {
  // First: with credentials that do not parse, even the refusals below could not hide the password.
  refuseUnparsableCredentials(location, source);
  const engine = ALL.find((candidate) => candidate.takes(location));
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
export function engineOfClient(client: unknown, source: string): RegisteredEngine {
  const name = typeof client === 'string' ? client.trim().toLowerCase() : '';
  const engine = ALL.find((candidate) => candidate.knexClients.includes(name));
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
