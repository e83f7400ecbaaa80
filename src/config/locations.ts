import path from 'node:path';
import type { EngineKind } from '../engines/contract.ts';
import type { EngineDescriptor } from '../engines/descriptor.ts';
import { defaultDatabase, engineOfClient, engineOfLocation, resolveLocation, type RegisteredEngine } from '../engines/registry.ts';
import { GuardError, messageOf } from '../errors.ts';
import { redact } from '../redact.ts';
import { pathExists } from '../fs/paths.ts';
import { loadProjectDefault } from '../load-module.ts';
import { KNEX_DEFAULT_TABLE } from '../history/knex-table.ts';
import type { MigrationLayout } from '../migrator/migration-files.ts';

export interface LocationFlags {
  readonly db?: string | undefined;
  readonly migrations?: string | undefined;
  readonly backupDir?: string | undefined;
  readonly config?: string | undefined;
  readonly directUrl?: string | undefined;
}

/** The project's migrations as knex's `migrations` settings describe them (or our defaults). */
export interface MigrationsSettings {
  readonly layout: MigrationLayout;
  /**
   * knex's history table when the knexfile configures migrations (its `tableName`, default
   * `knex_migrations`): a database without any history gets knex's; null without such a knexfile.
   */
  readonly knexTable: string | null;
  /** Refuse when an applied migration's file is missing (knex's `disableMigrationsListValidation` turns it off). */
  readonly validateApplied: boolean;
}

export interface Locations {
  /** The database: an absolute path for SQLite, a URL for PostgreSQL. */
  readonly database: string;
  /**
   * Its engine, decided once here from what the user named (the `--db` / `DATABASE_URL` scheme,
   * the knexfile's `client`) by the engine registry, and never guessed again from the string.
   */
  readonly engine: EngineKind;
  /** The (first) migrations folder. */
  readonly migrationsDir: string;
  readonly migrations: MigrationsSettings;
  readonly backupDir: string;
  readonly configFile: string | null;
  /**
   * PostgreSQL behind a pooler: the server's own URL, which every connection then uses
   * (`--direct-url`, `DIRECT_URL`; the config's `directUrl` is merged in once the config is read).
   * Null: connections use the database URL.
   */
  readonly directUrl: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

const CONFIG_FILES = ['migrate-guard.config.ts', 'migrate-guard.config.js', 'migrate-guard.config.mjs'];
const KNEXFILES = ['knexfile.ts', 'knexfile.js', 'knexfile.mjs', 'knexfile.cjs'];

/** The part of a knexfile environment migrate-guard reads. */
interface KnexfileSection {
  readonly client?: unknown;
  readonly connection?: unknown;
  readonly migrations?: {
    readonly directory?: string | readonly string[];
    readonly tableName?: string;
    readonly loadExtensions?: readonly string[];
    readonly sortDirsSeparately?: boolean;
    readonly disableMigrationsListValidation?: boolean;
  };
}

/**
 * Where things are, per the contract: flag, then environment variable, then the knexfile (its
 * connection for NODE_ENV, its `migrations` settings as knex reads them), then the defaults
 * (`./database.db`, `./migrations`). A database that no engine of this version runs (an unknown
 * scheme or knex client, MySQL/MariaDB for now, a knexfile client without a usable connection) is
 * refused here, before anything opens or creates a file: it is never taken for a SQLite file.
 */
export async function resolveLocations(flags: LocationFlags, env: Env, cwd: string): Promise<Locations> {
  const knexfile = await readKnexfile(cwd, env);
  // An empty `DATABASE_URL=` line means unset, as in most .env tooling (and so for every location).
  const { engine, database } = flags.db
    ? resolveLocation(flags.db, cwd, '--db')
    : env.DATABASE_URL
      ? resolveLocation(env.DATABASE_URL, cwd, 'DATABASE_URL')
      : ((await knexfileDatabase(knexfile, cwd)) ?? defaultDatabase(cwd));
  const settings = knexfile?.section?.migrations ?? {};
  const explicitDir = flags.migrations || env.MIGRATIONS_DIR || undefined;
  const configured =
    settings.directory === undefined ? [] : typeof settings.directory === 'string' ? [settings.directory] : [...settings.directory];
  const directories = (explicitDir !== undefined ? [explicitDir] : configured.length > 0 ? configured : ['migrations']).map((dir) =>
    path.resolve(cwd, dir),
  );
  return {
    database,
    engine,
    migrationsDir: directories[0]!,
    migrations: {
      layout: {
        directories,
        extensions: settings.loadExtensions ? [...settings.loadExtensions] : null,
        sortDirsSeparately: settings.sortDirsSeparately === true,
      },
      knexTable: knexfile?.section?.migrations ? (settings.tableName ?? KNEX_DEFAULT_TABLE) : null,
      validateApplied: settings.disableMigrationsListValidation !== true,
    },
    backupDir: path.resolve(cwd, flags.backupDir || env.BACKUP_DIR || 'backups'),
    configFile: await configFile(flags.config || env.MIGRATE_GUARD_CONFIG || undefined, cwd),
    directUrl: flags.directUrl?.trim() || env.DIRECT_URL?.trim() || null,
  };
}

async function configFile(explicit: string | undefined, cwd: string): Promise<string | null> {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!(await pathExists(file))) throw new GuardError('USAGE', `config file ${file} does not exist`);
    return file;
  }
  return firstExisting(cwd, CONFIG_FILES);
}

async function firstExisting(cwd: string, names: readonly string[]): Promise<string | null> {
  for (const name of names) {
    if (await pathExists(path.join(cwd, name))) return path.join(cwd, name);
  }
  return null;
}

/** A knexfile as read for one NODE_ENV. */
interface Knexfile {
  /** How messages name it: `knexfile.ts`, `knexfile.ts (production)`. */
  readonly source: string;
  /** Its section for NODE_ENV, or its flat config; null when it has neither. */
  readonly section: KnexfileSection | null;
  /** NODE_ENV, when the knexfile has sections for other environments but not for this one. */
  readonly missingEnvironment: { readonly name: string; readonly present: readonly string[] } | null;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const namesDatabase = (value: unknown): boolean => isObject(value) && ('client' in value || 'connection' in value);

/** The knexfile's section for NODE_ENV, or its flat config; null without a knexfile. */
async function readKnexfile(cwd: string, env: Env): Promise<Knexfile | null> {
  const file = await firstExisting(cwd, KNEXFILES);
  if (file === null) return null;
  const loaded = (await loadProjectDefault({ file, role: 'knexfile', code: 'CONFIG_INVALID' })) as Record<string, unknown>;
  const name = env.NODE_ENV ?? 'development';
  const own = loaded[name];
  const section = own ?? loaded;
  const present = Object.keys(loaded).filter((key) => namesDatabase(loaded[key]));
  const flat = namesDatabase(loaded);
  return {
    source: own === undefined ? path.basename(file) : `${path.basename(file)} (${name})`,
    section: isObject(section) ? (section as KnexfileSection) : null,
    missingEnvironment: own === undefined && !flat && present.length > 0 ? { name, present } : null,
  };
}

/**
 * The database the knexfile names for NODE_ENV, as knex would connect to it: its `client` picks
 * the engine (a knexfile without one is read by its connection alone: a URL's scheme, or
 * `{ filename }`), and its `connection` (a string, an object, or a function, sync or async,
 * returning either) names the database in that engine's terms. Null when the knexfile names no
 * database at all (it configures only `migrations`). Everything else is refused: an unknown or
 * not-yet-supported client, a client whose connection names no database of its kind, a NODE_ENV
 * the knexfile has no section for. Falling back to `./database.db` there migrated a new SQLite
 * file instead of the project's server.
 */
async function knexfileDatabase(
  knexfile: Knexfile | null,
  cwd: string,
): Promise<{ readonly engine: EngineKind; readonly database: string } | null> {
  if (knexfile === null) return null;
  const { source, section, missingEnvironment } = knexfile;
  if (missingEnvironment) {
    throw new GuardError(
      'CONFIG_INVALID',
      `${source} has no "${missingEnvironment.name}" environment (it has ${missingEnvironment.present.join(', ')}): set NODE_ENV to one of them, or name the database with --db / DATABASE_URL. Nothing was changed`,
    );
  }
  if (section === null || (section.client === undefined && section.connection === undefined)) return null;
  const engine = section.client === undefined ? null : engineOfClient(section.client, source);
  const connection = await evaluateConnection(section.connection, source);
  const found =
    typeof connection === 'string'
      ? fromString(connection, engine, source, cwd)
      : isObject(connection)
        ? fromObject(connection, engine, source, cwd)
        : null;
  if (found) return found;
  const expected = engine
    ? `client '${String(section.client)}' needs a connection naming its database: ${engine.knexConnectionHint}`
    : `no client, and no connection naming a database`;
  throw new GuardError('CONFIG_INVALID', `${source}: ${expected}; or name the database with --db / DATABASE_URL. Nothing was changed`);
}

/** knex's `connection`, evaluated once as knex does when it connects: a function may return it, or a promise of it. */
async function evaluateConnection(connection: unknown, source: string): Promise<unknown> {
  if (typeof connection !== 'function') return connection;
  try {
    return await (connection as () => unknown)();
  } catch (error) {
    throw new GuardError('CONFIG_INVALID', `${source}: its connection function failed: ${messageOf(error)}`, { cause: error });
  }
}

type Found = { readonly engine: EngineKind; readonly database: string } | null;

/** A connection string: read as `--db` would be, and it must be the client's kind. */
function fromString(connection: string, engine: RegisteredEngine | null, source: string, cwd: string): Found {
  if (connection.trim() === '') return null;
  const named = engineOfLocation(connection, `${source} connection`);
  if (engine !== null && named.kind !== engine.kind) throw mismatch(connection, engine, named, source);
  return { engine: named.kind, database: named.locate(connection, cwd) };
}

/** A connection object in the client's terms; without a client, `{ connectionString }` or `{ filename }`. */
function fromObject(connection: Readonly<Record<string, unknown>>, engine: RegisteredEngine | null, source: string, cwd: string): Found {
  if (engine === null) {
    if (typeof connection.connectionString === 'string') return fromString(connection.connectionString, null, source, cwd);
    if (typeof connection.filename === 'string') return fromString(connection.filename, null, source, cwd);
    return null;
  }
  if (typeof connection.connectionString === 'string' && connection.connectionString.trim() !== '') {
    const named = engineOfLocation(connection.connectionString, `${source} connectionString`);
    if (named.kind !== engine.kind) throw mismatch(connection.connectionString, engine, named, source);
  }
  const database = engine.fromKnexConnection(connection, cwd);
  return database === null ? null : { engine: engine.kind, database };
}

function mismatch(connection: string, engine: EngineDescriptor, named: EngineDescriptor, source: string): GuardError {
  return new GuardError(
    'CONFIG_INVALID',
    `${source}: its client is ${engine.label} but its connection "${redact(connection.trim())}" names a ${named.label} database; make them agree, or name the database with --db / DATABASE_URL. Nothing was changed`,
  );
}

/** The settings for a plain migrations folder (library callers that give only `migrationsDir`). */
export function folderSettings(migrationsDir: string): MigrationsSettings {
  return {
    layout: { directories: [path.resolve(migrationsDir)], extensions: null, sortDirsSeparately: false },
    knexTable: null,
    validateApplied: true,
  };
}
