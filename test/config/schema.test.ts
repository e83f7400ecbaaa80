import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.ts';
import * as v from 'valibot';
import { configSchema, withBackupEnv } from '../../src/config/schema.ts';
import { DEFAULT_RETENTION } from '../../src/backup/retention.ts';
import { thrownBy } from '../helpers/errors.ts';

/** The defaults as the README's "Configuration" section states them. */
const README_DEFAULTS = {
  umzug: null,
  umzugHandlesForeignKeys: false,
  directUrl: null,
  transactions: 'group',
  checks: { integrity: 'full', foreignKeys: true, smoke: null, custom: [], rows: { enabled: true, warn: [] } },
  hooks: {
    beforeMigrate: null,
    afterMigrate: null,
    onFailure: null,
    onAlert: null,
    beforeRestore: null,
    afterRestore: null,
    timeoutMs: 600_000,
  },
  thresholds: { freeSpaceFactor: 2, largeTableRows: 100_000, longLockMs: 2_000 },
  review: { allow: [] },
  backups: {
    compress: { daily: true, weekly: true, monthly: true },
    gzipLevel: 1,
    method: 'pg_dump',
    archiveTimeoutMs: 60_000,
    verifyCommand: null,
    restorePointDrill: 'pgbackrest --pg1-path={dataDir} --type=name --target={point} --target-action=promote restore',
  },
  health: { maxAgeHours: 26, sizeChangePercent: 20, drillMaxAgeDays: 35, scrubMaxAgeHours: 26 },
  archive: { replica: null, syncInterval: '1s', maxLagSeconds: 60 },
  retention: { dailyDays: 30, hotDays: 7, weeklyWeeks: 12, monthlyMonths: 12 },
  postgres: { proofRole: null },
  locks: { timeout: 500, retries: 40, budget: 60_000, longTransaction: 30_000 },
  allowInsecureDirs: false,
};

/** The message of the CONFIG_INVALID error `input` is refused with. */
function refusal(input: unknown): string {
  const error = thrownBy(() => resolveConfig(input));
  expect(error.code).toBe('CONFIG_INVALID');
  expect(error.exitCode).toBe(1);
  return error.message;
}

describe('resolveConfig: defaults', () => {
  it('fills in every default the README documents', () => {
    expect(resolveConfig({})).toEqual(README_DEFAULTS);
  });

  it('treats a missing config (null, undefined) as the defaults', () => {
    expect(resolveConfig(undefined)).toEqual(README_DEFAULTS);
    expect(resolveConfig(null)).toEqual(README_DEFAULTS);
  });

  it('is where retention takes its defaults from', () => {
    expect(DEFAULT_RETENTION).toEqual(README_DEFAULTS.retention);
  });

  it('keeps the other defaults of a partly given section, and the other sections', () => {
    const config = resolveConfig({ health: { maxAgeHours: 48 }, checks: { integrity: 'quick' }, hooks: { onAlert: './page.sh' } });
    expect(config.health).toEqual({ maxAgeHours: 48, sizeChangePercent: 20, drillMaxAgeDays: 35, scrubMaxAgeHours: 26 });
    expect(config.checks).toEqual({ ...README_DEFAULTS.checks, integrity: 'quick' });
    expect(config.hooks).toEqual({ ...README_DEFAULTS.hooks, onAlert: './page.sh' });
    expect(config.retention).toEqual(README_DEFAULTS.retention);
    expect(config.thresholds).toEqual(README_DEFAULTS.thresholds);
    expect(config.archive).toEqual(README_DEFAULTS.archive);
  });

  it('reads review.allow as a migration reads its own: rule ids, or a rule on some tables', () => {
    expect(resolveConfig({ review: { allow: ['drop-column', { rule: 'rows-shrunk', tables: ['sessions'] }] } }).review.allow).toEqual([
      { rule: 'drop-column', tables: null },
      { rule: 'rows-shrunk', tables: ['sessions'] },
    ]);
  });

  it('merges backups.compress with the daily/weekly/monthly defaults', () => {
    expect(resolveConfig({ backups: { compress: { daily: false } } }).backups.compress).toEqual({
      daily: false,
      weekly: true,
      monthly: true,
    });
    expect(resolveConfig({ backups: { compress: { manual: true, hot: false } } }).backups.compress).toEqual({
      daily: true,
      weekly: true,
      monthly: true,
      manual: true,
      hot: false,
    });
    expect(resolveConfig({ backups: { gzipLevel: 6 } }).backups).toEqual({ ...README_DEFAULTS.backups, gzipLevel: 6 });
  });

  it('keeps what a project gives: smoke queries, custom checks as functions', async () => {
    const run = async () => 'bad';
    const config = resolveConfig({ checks: { smoke: ['SELECT 1'], custom: [{ name: 'mine', run }] } });
    expect(config.checks.smoke).toEqual(['SELECT 1']);
    expect(config.checks.custom).toHaveLength(1);
    expect(config.checks.custom[0]!.name).toBe('mine');
    expect(await config.checks.custom[0]!.run(undefined as never)).toBe('bad');
  });

  it('reads checks.rows as on, off, or on with tables lowered to a warning', () => {
    expect(resolveConfig({ checks: { rows: false } }).checks.rows).toEqual({ enabled: false, warn: [] });
    expect(resolveConfig({ checks: { rows: true } }).checks.rows).toEqual({ enabled: true, warn: [] });
    expect(resolveConfig({ checks: { rows: { warn: ['sessions'] } } }).checks.rows).toEqual({ enabled: true, warn: ['sessions'] });
    expect(refusal({ checks: { rows: { warn: 'sessions' } } })).toContain('rows');
    expect(refusal({ checks: { rows: { fail: [] } } })).toContain('rows');
  });

  it('does not share default objects between resolutions', () => {
    const first = resolveConfig({});
    (first.backups.compress as Record<string, boolean>).daily = false;
    (first.checks.custom as unknown[]).push({ name: 'x', run: () => undefined });
    expect(resolveConfig({})).toEqual(README_DEFAULTS);
  });

  it('exposes the same schema the resolver uses', () => {
    expect(v.parse(configSchema, {})).toEqual(README_DEFAULTS);
  });
});

describe('resolveConfig: refusals', () => {
  it('refuses an unknown top-level key, naming it', () => {
    const message = refusal({ heath: { maxAgeHours: 1 } });
    expect(message).toContain('heath');
    expect(message).toContain('(root)');
  });

  it('refuses an unknown key inside a section with the section path and the key', () => {
    const message = refusal({ checks: { integrty: 'full' } });
    expect(message).toMatch(/checks: .*integrty/);
  });

  it('refuses a wrong type with the full key path', () => {
    expect(refusal({ health: { maxAgeHours: '26' } })).toContain('health.maxAgeHours');
    expect(refusal({ checks: { foreignKeys: 'yes' } })).toContain('checks.foreignKeys');
    expect(refusal({ checks: { custom: [{ name: 'x', run: 'not a function' }] } })).toContain('checks.custom.0.run: must be a function');
    expect(refusal({ hooks: { timeoutMs: 1.5 } })).toContain('hooks.timeoutMs');
    expect(refusal({ retention: { dailyDays: -1 } })).toContain('retention.dailyDays');
    expect(refusal({ backups: { gzipLevel: 10 } })).toContain('backups.gzipLevel');
    expect(refusal({ archive: { syncInterval: '1h' } })).toContain('archive.syncInterval');
    expect(refusal({ checks: { integrity: 'fast' } })).toContain('checks.integrity');
  });

  it('refuses compression settings for a kind that cannot be requested', () => {
    expect(refusal({ backups: { compress: { 'pre-restore': true } } })).toMatch(/backups\.compress.*pre-restore/);
    expect(refusal({ backups: { compress: { daily: 'yes' } } })).toContain('backups.compress.daily');
  });

  it('refuses an empty hook command (use null for none)', () => {
    expect(refusal({ hooks: { beforeMigrate: '' } })).toContain('hooks.beforeMigrate');
    expect(resolveConfig({ hooks: { beforeMigrate: null } }).hooks.beforeMigrate).toBeNull();
  });

  it('lists every problem in one message, and names the source', () => {
    const error = thrownBy(() =>
      resolveConfig({ health: { maxAgeHours: 'x' }, retention: { hotDays: 'y' } }, 'config /srv/app/migrate-guard.config.ts'),
    );
    expect(error.message).toMatch(/^config \/srv\/app\/migrate-guard\.config\.ts is invalid: /);
    expect(error.message).toContain('health.maxAgeHours');
    expect(error.message).toContain('retention.hotDays');
  });

  it('refuses a config that is not an object', () => {
    expect(refusal('checks')).toContain('(root)');
    expect(refusal([])).toContain('(root)');
  });
});

describe('MIGRATE_GUARD_BACKUP_METHOD', () => {
  it('sets backups.method over the config, and refuses anything but pg_dump or restore-point in one line', () => {
    const config = resolveConfig({ backups: { method: 'pg_dump' } });
    expect(withBackupEnv(config, { MIGRATE_GUARD_BACKUP_METHOD: 'restore-point' }).backups.method).toBe('restore-point');
    expect(withBackupEnv(config, { MIGRATE_GUARD_BACKUP_METHOD: ' ' }).backups.method).toBe('pg_dump');
    expect(withBackupEnv(config, {})).toBe(config);
    expect(() => withBackupEnv(config, { MIGRATE_GUARD_BACKUP_METHOD: 'wal-g' })).toThrow(
      'MIGRATE_GUARD_BACKUP_METHOD=wal-g: expected pg_dump or restore-point',
    );
  });
});
