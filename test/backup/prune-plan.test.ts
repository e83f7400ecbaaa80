import { describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION, planRetention, type RetentionCandidate } from '../../src/backup/retention.ts';

const daysOf2025 = (): Date[] => {
  const days: Date[] = [];
  for (let t = Date.UTC(2025, 0, 1, 2); t < Date.UTC(2026, 0, 1); t += 86_400_000) days.push(new Date(t));
  return days;
};
const backup = (kind: RetentionCandidate['kind'], at: Date, verified = true): RetentionCandidate => ({
  file: `${kind}_${at.toISOString()}`,
  kind,
  createdAt: at.toISOString(),
  verified,
});
const kept = (decisions: ReturnType<typeof planRetention>) => decisions.filter((d) => d.action === 'keep').map((d) => d.createdAt.slice(0, 10));
const NEW_YEAR = new Date('2026-01-01T00:00:00Z');

describe('planRetention', () => {
  it('keeps the 30 newest days of a year of daily backups and removes the other 335', () => {
    const decisions = planRetention(daysOf2025().map((day) => backup('daily', day)), DEFAULT_RETENTION, NEW_YEAR);
    // Hand-computed: 2025-12-02 … 2025-12-31.
    const expected = Array.from({ length: 30 }, (_, i) => `2025-12-${String(31 - i).padStart(2, '0')}`);
    expect(kept(decisions)).toEqual(expected);
    expect(decisions.filter((d) => d.action === 'remove')).toHaveLength(335);
  });

  it('keeps the newest of each of the last 12 ISO weeks of weekly backups', () => {
    const sundays = daysOf2025().filter((day) => day.getUTCDay() === 0);
    const decisions = planRetention(sundays.map((day) => backup('weekly', day)), DEFAULT_RETENTION, NEW_YEAR);
    expect(kept(decisions)).toEqual([
      '2025-12-28', '2025-12-21', '2025-12-14', '2025-12-07', '2025-11-30', '2025-11-23',
      '2025-11-16', '2025-11-09', '2025-11-02', '2025-10-26', '2025-10-19', '2025-10-12',
    ]);
  });

  it('keeps the newest backup of each month, the last N months', () => {
    const twice = daysOf2025().filter((day) => day.getUTCDate() === 1 || day.getUTCDate() === 15);
    const all = planRetention(twice.map((day) => backup('monthly', day)), DEFAULT_RETENTION, NEW_YEAR);
    expect(kept(all)).toHaveLength(12);
    expect(kept(all).every((day) => day.endsWith('-15'))).toBe(true);
    const three = planRetention(twice.map((day) => backup('monthly', day)), { ...DEFAULT_RETENTION, monthlyMonths: 3 }, NEW_YEAR);
    expect(kept(three)).toEqual(['2025-12-15', '2025-11-15', '2025-10-15']);
  });

  it('counts days with backups, not calendar days (restic semantics), and one per day', () => {
    const days = [1, 2, 10, 20].map((d) => new Date(Date.UTC(2025, 5, d, 2)));
    const extra = new Date(Date.UTC(2025, 5, 20, 1)); // an older backup the same day
    const decisions = planRetention([...days, extra].map((day) => backup('daily', day)), { ...DEFAULT_RETENTION, dailyDays: 3 }, NEW_YEAR);
    expect(decisions.filter((d) => d.action === 'keep').map((d) => d.createdAt)).toEqual([
      '2025-06-20T02:00:00.000Z', '2025-06-10T02:00:00.000Z', '2025-06-02T02:00:00.000Z',
    ]);
  });

  it('keeps hot backups within the window, hand-kept kinds forever, and never the newest verified', () => {
    const now = new Date('2025-06-30T12:00:00Z');
    const hot = Array.from({ length: 10 }, (_, i) => backup('hot', new Date(now.getTime() - (i + 0.5) * 86_400_000)));
    const old = [backup('pre-rollout', new Date('2020-01-01T00:00:00Z')), backup('manual', new Date('2020-01-02T00:00:00Z'))];
    const decisions = planRetention([...hot, ...old], DEFAULT_RETENTION, now);
    expect(decisions.filter((d) => d.kind === 'hot' && d.action === 'keep')).toHaveLength(7);
    expect(decisions.filter((d) => d.kind !== 'hot').every((d) => d.action === 'keep')).toBe(true);
    const none = planRetention(
      [backup('daily', new Date('2025-06-01T02:00:00Z'), false), backup('daily', new Date('2025-05-01T02:00:00Z'))],
      { dailyDays: 0, hotDays: 0, weeklyWeeks: 0, monthlyMonths: 0 },
      now,
    );
    expect(none.map((d) => [d.createdAt.slice(0, 10), d.action, d.reason])).toEqual([
      ['2025-06-01', 'remove', 'not verified: not a backup to restore from'],
      ['2025-05-01', 'keep', 'newest verified daily backup: never removed'],
    ]);
  });
});
