import path from 'node:path';
import { resolveDatabaseLocation } from '../engines/select.ts';
import { GuardError, messageOf } from '../errors.ts';
import { pathExists } from '../fs/paths.ts';
import { importProjectDefault } from '../load-module.ts';

export interface LocationFlags {
  readonly db?: string | undefined;
  readonly migrations?: string | undefined;
  readonly backupDir?: string | undefined;
  readonly config?: string | undefined;
}

export interface Locations {
  /** The database: an absolute path for SQLite. */
  readonly database: string;
  readonly migrationsDir: string;
  readonly backupDir: string;
  readonly configFile: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

const CONFIG_FILES = ['migrate-guard.config.ts', 'migrate-guard.config.js', 'migrate-guard.config.mjs'];
const KNEXFILES = ['knexfile.ts', 'knexfile.js', 'knexfile.mjs', 'knexfile.cjs'];

/**
 * Where things are, per the contract: flag, then environment variable, then default. For the
 * database the default is the knexfile's connection for NODE_ENV, else `./database.db`.
 */
export async function resolveLocations(flags: LocationFlags, env: Env, cwd: string): Promise<Locations> {
  // An empty DATABASE_URL= line means unset, as in most .env tooling.
  const dbUrl = flags.db || env.DATABASE_URL || undefined;
  const database = dbUrl
    ? resolveDatabaseLocation(dbUrl, cwd)
    : ((await knexfileDatabase(cwd, env)) ?? path.resolve(cwd, 'database.db'));
  return {
    database,
    migrationsDir: path.resolve(cwd, flags.migrations ?? env.MIGRATIONS_DIR ?? 'migrations'),
    backupDir: path.resolve(cwd, flags.backupDir ?? env.BACKUP_DIR ?? 'backups'),
    configFile: await configFile(flags.config ?? env.MIGRATE_GUARD_CONFIG, cwd),
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

/** The database the knexfile configures for NODE_ENV (or its flat config), if there is a knexfile. */
async function knexfileDatabase(cwd: string, env: Env): Promise<string | null> {
  const file = await firstExisting(cwd, KNEXFILES);
  if (file === null) return null;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await importProjectDefault(file)) as Record<string, unknown>;
  } catch (error) {
    throw new GuardError('CONFIG_INVALID', `${path.basename(file)} could not be loaded: ${messageOf(error)}`, { cause: error });
  }
  const section = (loaded[env.NODE_ENV ?? 'development'] ?? loaded) as { connection?: unknown };
  const connection = section.connection;
  const filename = typeof connection === 'string' ? connection : (connection as { filename?: unknown } | undefined)?.filename;
  return typeof filename === 'string' && filename !== '' ? resolveDatabaseLocation(filename, cwd) : null;
}
