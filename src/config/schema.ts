import { z } from 'zod';
import { REQUESTABLE_KINDS } from '../backup/kinds.ts';
import type { CustomCheck } from '../checks/contract.ts';

/** A hook is a shell command; none configured is null. */
const hook = () => z.string().min(1).nullable().default(null);

const customCheck = z.strictObject({
  name: z.string().min(1),
  run: z.custom<CustomCheck['run']>((value) => typeof value === 'function', { message: 'must be a function' }),
});

const checks = z.strictObject({
  /** `full` is `PRAGMA integrity_check`; `quick` skips index checks and is faster on large databases. */
  integrity: z.enum(['full', 'quick', 'off']).default('full'),
  foreignKeys: z.boolean().default(true),
  /** SQL that must run without error after the migrations; null: a count of every table. */
  smoke: z.array(z.string().min(1)).nullable().default(null),
  custom: z.array(customCheck).default([]),
});

const hooks = z.strictObject({
  beforeMigrate: hook(),
  afterMigrate: hook(),
  onFailure: hook(),
  /** Runs once per `health` alert, e.g. to page someone. */
  onAlert: hook(),
  /** Around `restore` (e.g. stop / start the app); a failing beforeRestore cancels it. */
  beforeRestore: hook(),
  afterRestore: hook(),
  timeoutMs: z.number().int().positive().default(10 * 60_000),
});

const thresholds = z.strictObject({
  /** Free space needed in the backup folder, as a multiple of the database size. */
  freeSpaceFactor: z.number().positive().default(2),
  /** A dry run warns when a migration rebuilds a table with at least this many rows. */
  largeTableRows: z.number().int().nonnegative().default(100_000),
});

/** Compressed unless the config says otherwise: the kinds kept for weeks and months. */
const COMPRESSED_BY_DEFAULT = { daily: true, weekly: true, monthly: true } as const;

const backups = z.strictObject({
  /** Which kinds are gzipped by default (`--compress` / `--no-compress` override). */
  compress: z
    .partialRecord(z.enum(REQUESTABLE_KINDS), z.boolean())
    .default({})
    .transform((given) => ({ ...COMPRESSED_BY_DEFAULT, ...given })),
  /** gzip level 1-9. Level 1 took 13 s for 1 GB here and level 6 took 26 s, for 5% less disk. */
  gzipLevel: z.number().int().min(1).max(9).default(1),
});

const health = z.strictObject({
  /** Alert when the newest verified backup is older than this. */
  maxAgeHours: z.number().positive().default(26),
  /** Alert when a backup's size differs from the previous one of its kind by more than this. */
  sizeChangePercent: z.number().positive().default(20),
  /** Alert when the last successful restore drill is older than this. */
  drillMaxAgeDays: z.number().positive().default(35),
  /** Alert when the last scrub (`verify --all`, daily from cron) is older than this. */
  scrubMaxAgeHours: z.number().positive().default(26),
});

const archive = z.strictObject({
  /** A Litestream replica URL (s3://…); null: a file replica in <backup-dir>/wal-archive. */
  replica: z.string().min(1).nullable().default(null),
  /** Litestream's sync interval, e.g. "1s". */
  syncInterval: z.string().regex(/^\d+(ms|s|m)$/).default('1s'),
  /** `health` alerts when the archive is further behind the database than this. */
  maxLagSeconds: z.number().positive().default(60),
});

export const retentionSchema = z.strictObject({
  /** The newest backup of each of the last N days that have one. */
  dailyDays: z.number().int().nonnegative().default(30),
  /** Every hot backup younger than N days. */
  hotDays: z.number().int().nonnegative().default(7),
  /** The newest backup of each of the last N ISO weeks that have one. */
  weeklyWeeks: z.number().int().nonnegative().default(12),
  /** The newest backup of each of the last N calendar months that have one. */
  monthlyMonths: z.number().int().nonnegative().default(12),
});

/**
 * `migrate-guard.config.ts`, and the one place its defaults are written: every section may be
 * left out, and `prefault` runs an absent section through its own defaults.
 */
export const configSchema = z.strictObject({
  /**
   * A module exporting the project's own Umzug instance (as `umzug` or default), relative to the
   * config file: the guard drives it instead of reading a migrations folder.
   */
  umzug: z.string().min(1).nullable().default(null),
  checks: checks.prefault({}),
  hooks: hooks.prefault({}),
  thresholds: thresholds.prefault({}),
  backups: backups.prefault({}),
  health: health.prefault({}),
  archive: archive.prefault({}),
  retention: retentionSchema.prefault({}),
});

/** The shape of `migrate-guard.config.ts`, as a project writes it. */
export type GuardConfig = z.input<typeof configSchema>;
/** The config with every default filled in, as the core reads it. */
export type ResolvedConfig = z.output<typeof configSchema>;
export type ChecksConfig = ResolvedConfig['checks'];
export type HooksConfig = ResolvedConfig['hooks'];
