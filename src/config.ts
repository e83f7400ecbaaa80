import path from 'node:path';
import { z } from 'zod';
import type { CustomCheck } from './checks/contract.ts';
import type { BackupKind } from './backup/manifest.ts';
import { databasePathFromUrl } from './db.ts';
import { GuardError } from './errors.ts';
import { pathExists as exists } from './files.ts';
import { importProjectDefault } from './load-module.ts';

const customCheckSchema = z.strictObject({
  name: z.string().min(1),
  run: z.custom<CustomCheck['run']>((value) => typeof value === 'function', { message: 'must be a function' }),
});

const configSchema = z.strictObject({
  checks: z
    .strictObject({
      /** `full` is `PRAGMA integrity_check`; `quick` skips index checks and is faster on large databases. */
      integrity: z.enum(['full', 'quick', 'off']).optional(),
      foreignKeys: z.boolean().optional(),
      /** SQL that must run without error after the migrations; default: a count of every table. */
      smoke: z.array(z.string().min(1)).optional(),
      custom: z.array(customCheckSchema).optional(),
    })
    .optional(),
  hooks: z
    .strictObject({
      beforeMigrate: z.string().min(1).optional(),
      afterMigrate: z.string().min(1).optional(),
      onFailure: z.string().min(1).optional(),
      /** Runs once per `health` alert, e.g. to page someone. */
      onAlert: z.string().min(1).optional(),
      /** Around `restore` (e.g. stop / start the app); a failing beforeRestore cancels it. */
      beforeRestore: z.string().min(1).optional(),
      afterRestore: z.string().min(1).optional(),
      timeoutMs: z.number().int().positive().optional(),
    })
    .optional(),
  thresholds: z
    .strictObject({
      /** Free space needed in the backup folder, as a multiple of the database size. */
      freeSpaceFactor: z.number().positive().optional(),
      /** A dry run warns when a migration rebuilds a table with at least this many rows. */
      largeTableRows: z.number().int().nonnegative().optional(),
    })
    .optional(),
  backups: z
    .strictObject({
      /** Which kinds are gzipped by default (`--compress` / `--no-compress` override). */
      compress: z.partialRecord(z.enum(['manual', 'pre-rollout', 'daily', 'weekly', 'monthly', 'hot']), z.boolean()).optional(),
      /** gzip level 1-9. Level 1 took 13 s for 1 GB here and level 6 took 26 s, for 5% less disk. */
      gzipLevel: z.number().int().min(1).max(9).optional(),
    })
    .optional(),
  health: z
    .strictObject({
      /** Alert when the newest verified backup is older than this. */
      maxAgeHours: z.number().positive().optional(),
      /** Alert when a backup's size differs from the previous one of its kind by more than this. */
      sizeChangePercent: z.number().positive().optional(),
      /** Alert when the last successful restore drill is older than this. */
      drillMaxAgeDays: z.number().positive().optional(),
    })
    .optional(),
  archive: z
    .strictObject({
      /** A Litestream replica URL (s3://…); default a file replica in <backup-dir>/wal-archive. */
      replica: z.string().min(1).optional(),
      /** Litestream's sync interval, e.g. "1s". */
      syncInterval: z.string().regex(/^\d+(ms|s|m)$/).optional(),
      /** `health` alerts when the archive is further behind the database than this. */
      maxLagSeconds: z.number().positive().optional(),
    })
    .optional(),
  retention: z
    .strictObject({
      dailyDays: z.number().int().nonnegative().optional(),
      hotDays: z.number().int().nonnegative().optional(),
      weeklyWeeks: z.number().int().nonnegative().optional(),
      monthlyMonths: z.number().int().nonnegative().optional(),
    })
    .optional(),
});

/** The shape of `migrate-guard.config.ts`. */
export type GuardConfig = z.input<typeof configSchema>;

export interface ChecksConfig {
  readonly integrity: 'full' | 'quick' | 'off';
  readonly foreignKeys: boolean;
  readonly smoke: readonly string[] | null;
  readonly custom: readonly CustomCheck[];
}

export interface HooksConfig {
  readonly beforeMigrate: string | null;
  readonly afterMigrate: string | null;
  readonly onFailure: string | null;
  readonly onAlert: string | null;
  readonly beforeRestore: string | null;
  readonly afterRestore: string | null;
  readonly timeoutMs: number;
}

export interface ResolvedConfig {
  readonly checks: ChecksConfig;
  readonly hooks: HooksConfig;
  readonly thresholds: { readonly freeSpaceFactor: number; readonly largeTableRows: number };
  readonly backups: { readonly compress: Readonly<Partial<Record<BackupKind, boolean>>>; readonly gzipLevel: number };
  readonly health: { readonly maxAgeHours: number; readonly sizeChangePercent: number; readonly drillMaxAgeDays: number };
  readonly archive: { readonly replica: string | null; readonly syncInterval: string; readonly maxLagSeconds: number };
  readonly retention: { readonly dailyDays: number; readonly hotDays: number; readonly weeklyWeeks: number; readonly monthlyMonths: number };
}

/** Typed helper for `migrate-guard.config.ts`: `export default defineConfig({ … })`. */
export function defineConfig(config: GuardConfig): GuardConfig {
  return config;
}

/** Validates a config object and fills in the defaults. One readable line per problem. */
export function resolveConfig(input: unknown, source = 'config'): ResolvedConfig {
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    throw new GuardError('CONFIG_INVALID', `${source} is invalid: ${problems}`);
  }
  const config = parsed.data;
  return {
    checks: {
      integrity: config.checks?.integrity ?? 'full',
      foreignKeys: config.checks?.foreignKeys ?? true,
      smoke: config.checks?.smoke ?? null,
      custom: config.checks?.custom ?? [],
    },
    hooks: {
      beforeMigrate: config.hooks?.beforeMigrate ?? null,
      afterMigrate: config.hooks?.afterMigrate ?? null,
      onFailure: config.hooks?.onFailure ?? null,
      onAlert: config.hooks?.onAlert ?? null,
      beforeRestore: config.hooks?.beforeRestore ?? null,
      afterRestore: config.hooks?.afterRestore ?? null,
      timeoutMs: config.hooks?.timeoutMs ?? 10 * 60_000,
    },
    thresholds: {
      freeSpaceFactor: config.thresholds?.freeSpaceFactor ?? 2,
      largeTableRows: config.thresholds?.largeTableRows ?? 100_000,
    },
    backups: {
      compress: { daily: true, weekly: true, monthly: true, ...config.backups?.compress },
      gzipLevel: config.backups?.gzipLevel ?? 1,
    },
    health: {
      maxAgeHours: config.health?.maxAgeHours ?? 26,
      sizeChangePercent: config.health?.sizeChangePercent ?? 20,
      drillMaxAgeDays: config.health?.drillMaxAgeDays ?? 35,
    },
    archive: {
      replica: config.archive?.replica ?? null,
      syncInterval: config.archive?.syncInterval ?? '1s',
      maxLagSeconds: config.archive?.maxLagSeconds ?? 60,
    },
    retention: {
      dailyDays: config.retention?.dailyDays ?? 30,
      hotDays: config.retention?.hotDays ?? 7,
      weeklyWeeks: config.retention?.weeklyWeeks ?? 12,
      monthlyMonths: config.retention?.monthlyMonths ?? 12,
    },
  };
}

/** Loads and validates the config file; no file means the defaults. */
export async function loadConfig(file: string | null): Promise<ResolvedConfig> {
  if (file === null) return resolveConfig({});
  let loaded: unknown;
  try {
    loaded = await importProjectDefault(file);
  } catch (error) {
    throw new GuardError('CONFIG_INVALID', `config ${file} could not be loaded: ${(error as Error).message.split('\n')[0]}`, {
      cause: error,
    });
  }
  return resolveConfig(loaded, `config ${file}`);
}

export interface LocationFlags {
  readonly db?: string | undefined;
  readonly migrations?: string | undefined;
  readonly backupDir?: string | undefined;
  readonly config?: string | undefined;
}

export interface Locations {
  readonly database: string;
  readonly migrationsDir: string;
  readonly backupDir: string;
  readonly configFile: string | null;
}

/**
 * Where things are, per the contract: flag, then environment variable, then default. For the
 * database the default is knexfile.ts's connection for NODE_ENV, else `./database.db`.
 */
export async function resolveLocations(
  flags: LocationFlags,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<Locations> {
  // An empty DATABASE_URL= line means unset, as in most .env tooling.
  const dbUrl = flags.db || env.DATABASE_URL || undefined;
  const database = dbUrl ? databasePathFromUrl(dbUrl, cwd) : ((await knexfileDatabase(cwd, env)) ?? path.resolve(cwd, 'database.db'));
  const explicitConfig = flags.config ?? env.MIGRATE_GUARD_CONFIG;
  let configFile: string | null = null;
  if (explicitConfig) {
    configFile = path.resolve(cwd, explicitConfig);
    if (!(await exists(configFile))) throw new GuardError('USAGE', `config file ${configFile} does not exist`);
  } else {
    for (const candidate of ['migrate-guard.config.ts', 'migrate-guard.config.js', 'migrate-guard.config.mjs']) {
      if (await exists(path.join(cwd, candidate))) {
        configFile = path.join(cwd, candidate);
        break;
      }
    }
  }
  return {
    database,
    migrationsDir: path.resolve(cwd, flags.migrations ?? env.MIGRATIONS_DIR ?? 'migrations'),
    backupDir: path.resolve(cwd, flags.backupDir ?? env.BACKUP_DIR ?? 'backups'),
    configFile,
  };
}

/** The database file knexfile.ts configures for NODE_ENV, if there is a knexfile. */
async function knexfileDatabase(cwd: string, env: Readonly<Record<string, string | undefined>>): Promise<string | null> {
  for (const candidate of ['knexfile.ts', 'knexfile.js', 'knexfile.mjs', 'knexfile.cjs']) {
    const file = path.join(cwd, candidate);
    if (!(await exists(file))) continue;
    let loaded: Record<string, unknown>;
    try {
      loaded = (await importProjectDefault(file)) as Record<string, unknown>;
    } catch (error) {
      throw new GuardError('CONFIG_INVALID', `${candidate} could not be loaded: ${(error as Error).message.split('\n')[0]}`, {
        cause: error,
      });
    }
    const environment = env.NODE_ENV ?? 'development';
    const section = (loaded[environment] ?? loaded) as { connection?: unknown };
    const connection = section.connection;
    const filename =
      typeof connection === 'string' ? connection : (connection as { filename?: unknown } | undefined)?.filename;
    if (typeof filename === 'string' && filename !== '') return databasePathFromUrl(filename, cwd);
    return null;
  }
  return null;
}
