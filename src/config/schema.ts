import * as v from 'valibot';
import { GuardError } from '../errors.ts';
import { REQUESTABLE_KINDS } from '../backup/kinds.ts';
import type { CustomCheck } from '../checks/contract.ts';
import { allowEntries, allowListSchema } from '../migrator/review.ts';

// valibot rather than zod: the config is read on every start, and zod alone took 40 ms to load
// (valibot 13 ms) of a `migrate` with nothing pending that must cost no more than knex's own.

/** A value with a default: the default goes through the schema too (so a section's own defaults apply). */
const withDefault = <S extends v.GenericSchema>(schema: S, fallback: v.InferInput<S>) => v.optional(schema, fallback as never);

/** A hook is a shell command; none configured is null. */
const hook = () => withDefault(v.nullable(v.pipe(v.string(), v.minLength(1))), null);
const positive = () => v.pipe(v.number(), v.gtValue(0));
const count = () => v.pipe(v.number(), v.integer(), v.minValue(0));

const customCheck = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1)),
  run: v.custom<CustomCheck['run']>((value) => typeof value === 'function', 'must be a function'),
});

const checks = v.strictObject({
  /**
   * `full`: what the run wrote proven at the strength of `PRAGMA integrity_check` (the quick check
   * of the whole file, the full check of every table the run wrote; the whole file when the writes
   * cannot all be accounted for); `whole-file`: the full check of everything; `quick` skips index
   * checks.
   */
  integrity: withDefault(v.picklist(['full', 'whole-file', 'quick', 'off']), 'full'),
  foreignKeys: withDefault(v.boolean(), true),
  /** SQL that must run without error after the migrations; null: a count of every table. */
  smoke: withDefault(v.nullable(v.array(v.pipe(v.string(), v.minLength(1)))), null),
  custom: withDefault(v.array(customCheck), []),
  /**
   * `rows`: every table has at least the rows it had when the run began (a migration that means
   * to delete rows declares it: `exports.review = { allow: ['rows-shrunk'] }`). `{ warn: [...] }`
   * lowers those tables to a warning (a table the application prunes itself); `false` turns it off.
   */
  rows: withDefault(
    v.pipe(
      v.union([v.boolean(), v.strictObject({ warn: withDefault(v.array(v.pipe(v.string(), v.minLength(1))), []) })]),
      v.transform((given): { readonly enabled: boolean; readonly warn: readonly string[] } =>
        typeof given === 'boolean' ? { enabled: given, warn: [] } : { enabled: true, warn: given.warn },
      ),
    ),
    true,
  ),
});

const hooks = v.strictObject({
  beforeMigrate: hook(),
  afterMigrate: hook(),
  onFailure: hook(),
  /** Runs once per `health` alert, e.g. to page someone. */
  onAlert: hook(),
  /** Around `restore` (e.g. stop / start the app); a failing beforeRestore cancels it. */
  beforeRestore: hook(),
  afterRestore: hook(),
  timeoutMs: withDefault(v.pipe(v.number(), v.integer(), v.gtValue(0)), 10 * 60_000),
});

const thresholds = v.strictObject({
  /** Free space needed in the backup folder, as a multiple of the database size. */
  freeSpaceFactor: withDefault(positive(), 2),
  /** A dry run warns when a migration rebuilds a table with at least this many rows. */
  largeTableRows: withDefault(count(), 100_000),
  /** A dry run reports `long-lock` when a migration held locks the application waits on this long on the copy. */
  longLockMs: withDefault(count(), 2_000),
});

const review = v.strictObject({
  /**
   * Rule ids the dry run's review lets through in every migration of the project (a string: on
   * every table; `{ rule, tables }`: on those tables). A migration allows its own in its file.
   */
  allow: withDefault(v.pipe(allowListSchema, v.transform(allowEntries)), []),
});

/** `backups.method`: a verified dump, or a restore point in the server's WAL archive (PostgreSQL). */
export const BACKUP_METHODS = ['pg_dump', 'restore-point'] as const;
export type BackupMethod = (typeof BACKUP_METHODS)[number];

/** pgBackRest's restore to a named point; the stanza from PGBACKREST_STANZA, as pgBackRest itself reads it. */
export const DEFAULT_RESTORE_POINT_DRILL = 'pgbackrest --pg1-path={dataDir} --type=name --target={point} --target-action=promote restore';

/** Compressed unless the config says otherwise: the kinds kept for weeks and months. */
const COMPRESSED_BY_DEFAULT = { daily: true, weekly: true, monthly: true } as const;

const backups = v.strictObject({
  /** Which kinds are gzipped by default (`--compress` / `--no-compress` override). */
  compress: withDefault(
    v.pipe(
      v.record(v.picklist(REQUESTABLE_KINDS), v.boolean()),
      v.transform((given): Partial<Record<(typeof REQUESTABLE_KINDS)[number], boolean>> => ({ ...COMPRESSED_BY_DEFAULT, ...given })),
    ),
    {},
  ),
  /** gzip level 1-9. Level 1 took 13 s for 1 GB here and level 6 took 26 s, for 5% less disk. */
  gzipLevel: withDefault(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(9)), 1),
  /**
   * How `migrate` and `down` take their pre-rollout backup. `pg_dump`: a dump proven by a scratch
   * restore (every engine's default). `restore-point` (PostgreSQL with WAL archiving, README:
   * "Restore points"): a named restore point in the server's own archive, in seconds at any size.
   */
  method: withDefault(v.picklist(BACKUP_METHODS), 'pg_dump'),
  /** restore-point: how long to wait for the point's WAL segment to be archived before refusing. */
  archiveTimeoutMs: withDefault(v.pipe(v.number(), v.integer(), v.gtValue(0)), 60_000),
  /** restore-point: a shell command (`pgbackrest --stanza=main verify`) run once the segment is archived; failing fails the backup. */
  verifyCommand: hook(),
  /**
   * restore-point: how `drill` restores a point into a scratch data directory (run as the server's
   * user), `{point}` and `{dataDir}` filled in, shell-quoted; pgBackRest reads its stanza and
   * config from PGBACKREST_STANZA and PGBACKREST_CONFIG (or write them into the command).
   */
  restorePointDrill: withDefault(v.pipe(v.string(), v.minLength(1)), DEFAULT_RESTORE_POINT_DRILL),
});

const health = v.strictObject({
  /** Alert when the newest verified backup is older than this. */
  maxAgeHours: withDefault(positive(), 26),
  /** Alert when a backup's size differs from the previous one of its kind by more than this. */
  sizeChangePercent: withDefault(positive(), 20),
  /** Alert when the last successful restore drill is older than this. */
  drillMaxAgeDays: withDefault(positive(), 35),
  /** Alert when the last scrub (`verify --all`, daily from cron) is older than this. */
  scrubMaxAgeHours: withDefault(positive(), 26),
});

const archive = v.strictObject({
  /** A Litestream replica URL (s3://…); null: a file replica in <backup-dir>/wal-archive. */
  replica: withDefault(v.nullable(v.pipe(v.string(), v.minLength(1))), null),
  /** Litestream's sync interval, e.g. "1s". */
  syncInterval: withDefault(v.pipe(v.string(), v.regex(/^\d+(ms|s|m)$/)), '1s'),
  /** `health` alerts when the archive is further behind the database than this. */
  maxLagSeconds: withDefault(positive(), 60),
});

const postgres = v.strictObject({
  /**
   * The role PostgreSQL dumps are restored as (a backup's proof, verify, drill, restore,
   * restore-table): never a superuser, so the database's own functions never run with superuser
   * rights. null: the database's owner (README: "Security model").
   */
  proofRole: withDefault(v.nullable(v.pipe(v.string(), v.minLength(1))), null),
});

/** `500ms`, `2s`, `1m`, or a number of milliseconds: how long people write a wait. */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/;

/** A duration as milliseconds, or null when `text` is not one (`locks.timeout`, MIGRATE_GUARD_LOCK_TIMEOUT). */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
  const unit = { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
  return Math.round(Number(match[1]) * unit);
}

const duration = () =>
  v.pipe(
    v.union([v.pipe(v.number(), v.minValue(0)), v.pipe(v.string(), v.regex(DURATION, 'expected a duration such as 500ms, 2s or 1m'))]),
    v.transform((given): number => (typeof given === 'number' ? Math.round(given) : (parseDuration(given) ?? 0))),
  );

/**
 * PostgreSQL: how a migration waits for a table lock. Behind a long transaction (a report), a
 * waiting ALTER TABLE queues every later query on the table: the lock-queue outage. Each
 * migration transaction runs with a short `lock_timeout` instead, and one not granted in time is
 * rolled back and tried again after a jittered pause, holding nothing while it waits.
 */
const locks = v.strictObject({
  /**
   * `lock_timeout` of every migration transaction (SET LOCAL: it ends with the transaction).
   * Under a second, so the application's queries that queue behind a waiting migration wait
   * less than that; 0 turns it off (wait as long as it takes, and no retries).
   */
  timeout: withDefault(duration(), '500ms'),
  /** How many times a migration (a group: all of them) is tried again after a lock timeout. */
  retries: withDefault(count(), 40),
  /** The most time spent on lock timeouts and the pauses between tries; past it the run is refused (exit 1). */
  budget: withDefault(duration(), '60s'),
  /** Preflight warns about transactions open longer than this (0: never). */
  longTransaction: withDefault(duration(), '30s'),
});

export const retentionSchema = v.strictObject({
  /** The newest backup of each of the last N days that have one. */
  dailyDays: withDefault(count(), 30),
  /** Every hot backup younger than N days. */
  hotDays: withDefault(count(), 7),
  /** The newest backup of each of the last N ISO weeks that have one. */
  weeklyWeeks: withDefault(count(), 12),
  /** The newest backup of each of the last N calendar months that have one. */
  monthlyMonths: withDefault(count(), 12),
});

/**
 * `migrate-guard.config.ts`, and the one place its defaults are written: every section may be
 * left out, and an absent section runs through its own defaults.
 */
export const configSchema = v.strictObject({
  /**
   * A module exporting the project's own Umzug instance (as `umzug` or default), relative to the
   * config file: the guard drives it instead of reading a migrations folder.
   */
  umzug: withDefault(v.nullable(v.pipe(v.string(), v.minLength(1))), null),
  /**
   * On SQLite a project Umzug whose connection enforces foreign keys is refused: a migration that
   * rebuilds a table would delete, by ON DELETE CASCADE, every row pointing at it. `true` says the
   * project turns them off around `up()` itself (umzug's `beforeCommand`/`afterCommand` events).
   */
  umzugHandlesForeignKeys: withDefault(v.boolean(), false),
  /**
   * PostgreSQL behind a connection pooler: the server's own URL, which every connection then uses
   * (lock, dump, migrations, checks, restore); DATABASE_URL / the knexfile still find the
   * database. `--direct-url` and `DIRECT_URL` come first. Null: connect with the database URL.
   */
  directUrl: withDefault(v.nullable(v.pipe(v.string(), v.trim(), v.minLength(1))), null),
  /**
   * `group`: all pending migrations, their history rows and the checks in one transaction, which
   * commits only when the backup is proven and every check passed (a failure is a rollback, not a
   * restore). A run with a `transaction: false` migration runs `per-migration` whatever this says.
   */
  transactions: withDefault(v.picklist(['group', 'per-migration']), 'group'),
  /**
   * Use a backup folder or state file that another account can write or owns (see "Security
   * model" in the README). Off: such a folder is refused, as ssh's StrictModes does.
   */
  allowInsecureDirs: withDefault(v.boolean(), false),
  checks: withDefault(checks, {}),
  hooks: withDefault(hooks, {}),
  thresholds: withDefault(thresholds, {}),
  review: withDefault(review, {}),
  backups: withDefault(backups, {}),
  health: withDefault(health, {}),
  archive: withDefault(archive, {}),
  retention: withDefault(retentionSchema, {}),
  postgres: withDefault(postgres, {}),
  locks: withDefault(locks, {}),
});

/** The shape of `migrate-guard.config.ts`, as a project writes it. */
export type GuardConfig = v.InferInput<typeof configSchema>;
/** The config with every default filled in, as the core reads it. */
export type ResolvedConfig = v.InferOutput<typeof configSchema>;
export type ChecksConfig = ResolvedConfig['checks'];
export type HooksConfig = ResolvedConfig['hooks'];
export type LocksConfig = ResolvedConfig['locks'];

/** The environment variables that override `locks` (a deploy can loosen or tighten them without a commit). */
export const LOCK_ENV = {
  timeout: 'MIGRATE_GUARD_LOCK_TIMEOUT',
  retries: 'MIGRATE_GUARD_LOCK_RETRIES',
  budget: 'MIGRATE_GUARD_LOCK_BUDGET',
} as const;

export const BACKUP_METHOD_ENV = 'MIGRATE_GUARD_BACKUP_METHOD';

/** The config with MIGRATE_GUARD_BACKUP_METHOD applied over `backups.method`; any other value is refused in one line. */
export function withBackupEnv(config: ResolvedConfig, env: Readonly<Record<string, string | undefined>>): ResolvedConfig {
  const text = env[BACKUP_METHOD_ENV]?.trim();
  if (text === undefined || text === '') return config;
  if (!(BACKUP_METHODS as readonly string[]).includes(text))
    throw new GuardError('USAGE', `${BACKUP_METHOD_ENV}=${text}: expected ${BACKUP_METHODS.join(' or ')}`);
  return { ...config, backups: { ...config.backups, method: text as BackupMethod } };
}

/**
 * The config with MIGRATE_GUARD_LOCK_TIMEOUT / _RETRIES / _BUDGET applied over `locks` (the CLI
 * passes its environment). A value that is not a duration (or a whole number, for retries) is
 * refused in one line, before anything runs.
 */
export function withLockEnv(config: ResolvedConfig, env: Readonly<Record<string, string | undefined>>): ResolvedConfig {
  const read = (key: keyof typeof LOCK_ENV, parse: (text: string) => number | null, expected: string): number => {
    const text = env[LOCK_ENV[key]]?.trim();
    if (text === undefined || text === '') return config.locks[key];
    const value = parse(text);
    if (value === null) throw new GuardError('USAGE', `${LOCK_ENV[key]}=${text}: expected ${expected}`);
    return value;
  };
  return {
    ...config,
    locks: {
      ...config.locks,
      timeout: read('timeout', parseDuration, 'a duration such as 500ms, 2s or 1m (0 turns the lock timeout off)'),
      retries: read('retries', (text) => (/^\d+$/.test(text) ? Number(text) : null), 'a whole number of retries, 0 or more'),
      budget: read('budget', parseDuration, 'a duration such as 30s or 2m'),
    },
  };
}
