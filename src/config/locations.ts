import path from 'node:path';
import { resolveDatabaseLocation } from '../engines/select.ts';
import { GuardError } from '../errors.ts';
import { pathExists } from '../fs/paths.ts';
import { loadProjectDefault } from '../load-module.ts';
import { KNEX_DEFAULT_TABLE } from '../history/knex-table.ts';
import type { MigrationLayout } from '../migrator/migration-files.ts';

export interface LocationFlags {
  readonly db?: string | undefined;
  readonly migrations?: string | undefined;
  readonly backupDir?: string | undefined;
  readonly config?: string | undefined;
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
  /** The database: an absolute path for SQLite. */
  readonly database: string;
  /** The (first) migrations folder. */
  readonly migrationsDir: string;
  readonly migrations: MigrationsSettings;
  readonly backupDir: string;
  readonly configFile: string | null;
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
 * (`./database.db`, `./migrations`).
 */
export async function resolveLocations(flags: LocationFlags, env: Env, cwd: string): Promise<Locations> {
  const knexfile = await readKnexfile(cwd, env);
  // An empty `DATABASE_URL=` line means unset, as in most .env tooling (and so for every location).
  const dbUrl = flags.db || env.DATABASE_URL || undefined;
  const database = dbUrl ? resolveDatabaseLocation(dbUrl, cwd) : (knexfileDatabase(knexfile, cwd) ?? path.resolve(cwd, 'database.db'));
  const settings = knexfile?.migrations ?? {};
  const explicitDir = flags.migrations || env.MIGRATIONS_DIR || undefined;
  const configured = settings.directory === undefined ? [] : typeof settings.directory === 'string' ? [settings.directory] : [...settings.directory];
  const directories = (explicitDir !== undefined ? [explicitDir] : configured.length > 0 ? configured : ['migrations']).map((dir) =>
    path.resolve(cwd, dir),
  );
  return {
    database,
    migrationsDir: directories[0]!,
    migrations: {
      layout: {
        directories,
        extensions: settings.loadExtensions ? [...settings.loadExtensions] : null,
        sortDirsSeparately: settings.sortDirsSeparately === true,
      },
      knexTable: knexfile?.migrations ? (settings.tableName ?? KNEX_DEFAULT_TABLE) : null,
      validateApplied: settings.disableMigrationsListValidation !== true,
    },
    backupDir: path.resolve(cwd, flags.backupDir || env.BACKUP_DIR || 'backups'),
    configFile: await configFile(flags.config || env.MIGRATE_GUARD_CONFIG || undefined, cwd),
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

/** The knexfile's section for NODE_ENV, or its flat config; null without a knexfile. */
async function readKnexfile(cwd: string, env: Env): Promise<KnexfileSection | null> {
  const file = await firstExisting(cwd, KNEXFILES);
  if (file === null) return null;
  const loaded = (await loadProjectDefault({ file, role: 'knexfile', code: 'CONFIG_INVALID' })) as Record<string, unknown>;
  const section = loaded[env.NODE_ENV ?? 'development'] ?? loaded;
  return typeof section === 'object' && section !== null ? (section as KnexfileSection) : null;
}

/**
 * The database the knexfile's connection names: a string (a file, or a URL), `{ filename }` for
 * SQLite, or for PostgreSQL (`client: 'pg'`) `{ connectionString }` or `{ host, port, user,
 * password, database }`.
 */
function knexfileDatabase(section: KnexfileSection | null, cwd: string): string | null {
  const connection = section?.connection;
  if (typeof connection === 'string') return connection === '' ? null : resolveDatabaseLocation(connection, cwd);
  const fields = (connection ?? {}) as Record<string, unknown>;
  if (typeof fields.filename === 'string' && fields.filename !== '') return resolveDatabaseLocation(fields.filename, cwd);
  if (typeof fields.connectionString === 'string') return resolveDatabaseLocation(fields.connectionString, cwd);
  if (/^(pg|postgres|postgresql)$/.test(String(section?.client ?? '')) && typeof fields.database === 'string') {
    const url = new URL('postgres://localhost');
    url.hostname = String(fields.host ?? 'localhost');
    if (fields.port !== undefined) url.port = String(fields.port);
    if (fields.user !== undefined) url.username = encodeURIComponent(String(fields.user));
    if (fields.password !== undefined) url.password = encodeURIComponent(String(fields.password));
    url.pathname = `/${encodeURIComponent(fields.database)}`;
    return url.toString();
  }
  return null;
}

/** The settings for a plain migrations folder (library callers that give only `migrationsDir`). */
export function folderSettings(migrationsDir: string): MigrationsSettings {
  return {
    layout: { directories: [path.resolve(migrationsDir)], extensions: null, sortDirsSeparately: false },
    knexTable: null,
    validateApplied: true,
  };
}
