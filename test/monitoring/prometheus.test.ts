import { describe, expect, it } from 'vitest';
import type { HealthReport } from '../../src/commands/health.ts';
import { escapeLabelValue, renderPrometheus } from '../../src/monitoring/prometheus.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';

const report: Omit<HealthReport, 'hooks'> = {
  command: 'health',
  ok: false,
  exitCode: 4,
  newestVerified: null,
  alerts: [{ check: 'scrub-age', message: 'old' }],
  freeBytes: 1_000_000,
  databaseBytes: 8192,
  archive: null,
  kinds: [
    { kind: 'daily', path: '/b/daily/x.db.gz', createdAt: '2026-03-31T00:00:00.000Z', ageSeconds: 3600, bytes: 194 },
    { kind: 'we"ird\\kind\nx', path: '/b/x', createdAt: '2026-03-31T00:00:00.000Z', ageSeconds: 1, bytes: 2 },
  ],
  jobs: [
    { job: 'backup', kind: 'daily', time: '2026-03-31T00:00:00.000Z', ok: true },
    { job: 'drill', kind: null, time: '2026-03-30T00:00:00.000Z', ok: false },
  ],
  drill: { lastSuccess: null, ageSeconds: null },
  scrub: { lastRun: '2026-03-31T00:00:00.000Z', ageSeconds: 60, failed: ['/b/daily/y.db.gz'] },
  prometheus: '/x.prom',
};

describe('renderPrometheus', () => {
  it('escapes label values as the exposition format says', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it('writes gauges with HELP and TYPE, migrate_guard_ names, escaped labels, and no sample for what is unknown', () => {
    const text = renderPrometheus(report);
    const metrics = parsePrometheus(text);
    for (const [name, metric] of metrics) {
      expect(name).toMatch(/^migrate_guard_[a-z_]+$/);
      expect(metric.type).toBe('gauge');
      expect(metric.help.length).toBeGreaterThan(0);
    }
    expect(metrics.get('migrate_guard_backup_age_seconds')!.samples).toEqual([
      { labels: { kind: 'daily' }, value: 3600 },
      { labels: { kind: 'we"ird\\kind\nx' }, value: 1 },
    ]);
    expect(metrics.get('migrate_guard_job_last_success')!.samples).toEqual([
      { labels: { job: 'backup', kind: 'daily' }, value: 1 },
      { labels: { job: 'drill', kind: '' }, value: 0 },
    ]);
    expect(metrics.get('migrate_guard_drill_age_seconds')!.samples).toEqual([]);
    expect(metrics.get('migrate_guard_archive_lag_seconds')!.samples).toEqual([]);
    expect(metrics.get('migrate_guard_scrub_failed_backups')!.samples).toEqual([{ labels: {}, value: 1 }]);
    expect(metrics.get('migrate_guard_alerts')!.samples).toEqual([{ labels: {}, value: 1 }]);
    expect(text.endsWith('\n')).toBe(true);
  });
});
