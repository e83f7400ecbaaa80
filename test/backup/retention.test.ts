import { describe, expect, it } from 'vitest';
import type { BackupKind } from '../../src/backup/kinds.ts';
import {
  DEFAULT_RETENTION,
  planRetention,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionPolicy,
} from '../../src/backup/retention.ts';

const DAY_MS = 86_400_000;
const NEW_YEAR_2026 = new Date('2026-01-01T00:00:00Z');
const NOTHING: RetentionPolicy = { dailyDays: 0, hotDays: 0, weeklyWeeks: 0, monthlyMonths: 0 };

const candidate = (kind: BackupKind, createdAt: string, verified = true, file = `${kind}/${createdAt}.db`): RetentionCandidate => ({
  file,
  kind,
  createdAt,
  verified,
});

const keptDates = (decisions: readonly RetentionDecision[]): string[] =>
  decisions.filter((d) => d.action === 'keep').map((d) => d.createdAt.slice(0, 10));
const keptFiles = (decisions: readonly RetentionDecision[]): string[] => decisions.filter((d) => d.action === 'keep').map((d) => d.file);
const decisionFor = (decisions: readonly RetentionDecision[], file: string): RetentionDecision => {
  const found = decisions.find((d) => d.file === file);
  if (!found) throw new Error(`no decision for ${file}`);
  return found;
};

/** Every day of 2025 at 02:00 UTC, as YYYY-MM-DD (365 of them). */
const daysOf2025 = (): string[] => {
  const days: string[] = [];
  for (let t = Date.UTC(2025, 0, 1); t < Date.UTC(2026, 0, 1); t += DAY_MS) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
};

describe('planRetention: daily', () => {
  it('keeps exactly the 30 days 2025-12-02 … 2025-12-31 of a year of daily backups and removes the other 335', () => {
    const year = daysOf2025().map((day) => candidate('daily', `${day}T02:00:00.000Z`));
    expect(year).toHaveLength(365);

    const decisions = planRetention(year, DEFAULT_RETENTION, NEW_YEAR_2026);

    // Hand-computed, independent of the generator above: December 31 back to December 2.
    const expected: string[] = [];
    for (let day = 31; day >= 2; day--) expected.push(`daily/2025-12-${String(day).padStart(2, '0')}T02:00:00.000Z.db`);
    expect(expected).toHaveLength(30);
    expect(keptFiles(decisions)).toEqual(expected);
    expect(decisions).toHaveLength(365);
    expect(decisions.filter((d) => d.action === 'remove')).toHaveLength(335);
    expect(decisionFor(decisions, 'daily/2025-12-01T02:00:00.000Z.db').action).toBe('remove');
    expect(decisionFor(decisions, 'daily/2025-01-01T02:00:00.000Z.db').action).toBe('remove');
  });

  it('explains each decision', () => {
    const decisions = planRetention(
      daysOf2025().map((day) => candidate('daily', `${day}T02:00:00.000Z`)),
      DEFAULT_RETENTION,
      NEW_YEAR_2026,
    );
    expect(decisionFor(decisions, 'daily/2025-12-31T02:00:00.000Z.db').reason).toBe(
      'newest daily backup of 2025-12-31 (1 of 30 days kept)',
    );
    expect(decisionFor(decisions, 'daily/2025-12-02T02:00:00.000Z.db').reason).toBe(
      'newest daily backup of 2025-12-02 (30 of 30 days kept)',
    );
    expect(decisionFor(decisions, 'daily/2025-12-01T02:00:00.000Z.db').reason).toBe(
      'daily: older than the 30 most recent days with a backup',
    );
  });

  it('keeps only the newest backup of a day with several', () => {
    const backups = [
      candidate('daily', '2025-06-10T01:00:00.000Z'),
      candidate('daily', '2025-06-10T23:59:59.999Z'),
      candidate('daily', '2025-06-10T13:00:00.000Z'),
      candidate('daily', '2025-06-09T02:00:00.000Z'),
    ];
    const decisions = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(decisions.map((d) => [d.createdAt, d.action])).toEqual([
      ['2025-06-10T23:59:59.999Z', 'keep'],
      ['2025-06-10T13:00:00.000Z', 'remove'],
      ['2025-06-10T01:00:00.000Z', 'remove'],
      ['2025-06-09T02:00:00.000Z', 'keep'],
    ]);
    expect(decisionFor(decisions, 'daily/2025-06-10T13:00:00.000Z.db').reason).toBe(
      'daily: a newer backup of the same day (2025-06-10) is kept',
    );
  });

  it('buckets by the UTC day, whatever offset the timestamp was written with', () => {
    // 23:30 at UTC-01:00 is 00:30 UTC the next day, so these are two different days.
    const backups = [
      candidate('daily', '2025-06-10T23:30:00-01:00', true, 'late'),
      candidate('daily', '2025-06-10T22:00:00Z', true, 'early'),
    ];
    const decisions = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(decisions.map((d) => [d.file, d.action, d.reason])).toEqual([
      ['late', 'keep', 'newest daily backup of 2025-06-11 (1 of 30 days kept)'],
      ['early', 'keep', 'newest daily backup of 2025-06-10 (2 of 30 days kept)'],
    ]);
  });

  it('counts the most recent days that have a backup, not calendar days (restic semantics)', () => {
    const backups = ['2025-03-01', '2025-03-05', '2025-04-20', '2025-06-01', '2025-06-02'].map((day) =>
      candidate('daily', `${day}T02:00:00Z`),
    );
    const three = planRetention(backups, { ...DEFAULT_RETENTION, dailyDays: 3 }, NEW_YEAR_2026);
    // 2025-04-20 is 43 calendar days before 2025-06-02 and still one of the 3 most recent days with a backup.
    expect(keptDates(three)).toEqual(['2025-06-02', '2025-06-01', '2025-04-20']);
    // Far more than 30 calendar days back (and 7 months before now), yet only 5 days with backups: all kept.
    const all = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(keptDates(all)).toEqual(['2025-06-02', '2025-06-01', '2025-04-20', '2025-03-05', '2025-03-01']);
  });

  it('removes unverified daily backups and never lets them fill a day', () => {
    const backups = [
      candidate('daily', '2025-06-10T02:00:00Z', false), // the newest day has only an unverified backup
      candidate('daily', '2025-06-09T23:00:00Z', false), // newer than the verified one of the same day
      candidate('daily', '2025-06-09T01:00:00Z'),
      candidate('daily', '2025-06-08T02:00:00Z'),
      candidate('daily', '2025-06-07T02:00:00Z'),
    ];
    const decisions = planRetention(backups, { ...DEFAULT_RETENTION, dailyDays: 2 }, NEW_YEAR_2026);
    expect(decisions.map((d) => [d.createdAt, d.action])).toEqual([
      ['2025-06-10T02:00:00Z', 'remove'],
      ['2025-06-09T23:00:00Z', 'remove'],
      ['2025-06-09T01:00:00Z', 'keep'],
      ['2025-06-08T02:00:00Z', 'keep'],
      ['2025-06-07T02:00:00Z', 'remove'],
    ]);
    expect(decisions[0]!.reason).toContain('not verified');
    expect(decisions[1]!.reason).toContain('not verified');
    expect(decisions[2]!.reason).toBe('newest daily backup of 2025-06-09 (1 of 2 days kept)');
    expect(decisions[4]!.reason).toBe('daily: older than the 2 most recent days with a backup');
  });
});

describe('planRetention: weekly', () => {
  it('keeps exactly the last 12 ISO weeks of a year of Sunday backups', () => {
    // 2025-01-01 is a Wednesday, so the first Sunday is 2025-01-05.
    const sundays: string[] = [];
    for (let t = Date.UTC(2025, 0, 5); t < Date.UTC(2026, 0, 1); t += 7 * DAY_MS) sundays.push(new Date(t).toISOString().slice(0, 10));
    expect(sundays).toHaveLength(52);

    const decisions = planRetention(
      sundays.map((day) => candidate('weekly', `${day}T03:00:00Z`)),
      DEFAULT_RETENTION,
      NEW_YEAR_2026,
    );
    expect(keptDates(decisions)).toEqual([
      '2025-12-28',
      '2025-12-21',
      '2025-12-14',
      '2025-12-07',
      '2025-11-30',
      '2025-11-23',
      '2025-11-16',
      '2025-11-09',
      '2025-11-02',
      '2025-10-26',
      '2025-10-19',
      '2025-10-12',
    ]);
    expect(decisions.filter((d) => d.action === 'remove')).toHaveLength(40);
    // Sunday 2025-12-28 ends the week that began Monday 2025-12-22: 2025-W52. 2025-10-12 ends 2025-W41.
    expect(decisionFor(decisions, 'weekly/2025-12-28T03:00:00Z.db').reason).toBe('newest weekly backup of 2025-W52 (1 of 12 weeks kept)');
    expect(decisionFor(decisions, 'weekly/2025-10-12T03:00:00Z.db').reason).toBe('newest weekly backup of 2025-W41 (12 of 12 weeks kept)');
    expect(decisionFor(decisions, 'weekly/2025-10-05T03:00:00Z.db').reason).toBe(
      'weekly: older than the 12 most recent weeks with a backup',
    );
  });

  it('puts a Sunday in the week that began the Monday before, and a Monday in a new week', () => {
    const backups = [
      candidate('weekly', '2025-12-29T00:00:00Z', true, 'monday-after'),
      candidate('weekly', '2025-12-28T23:59:59Z', true, 'sunday'),
      candidate('weekly', '2025-12-22T00:00:00Z', true, 'monday-before'),
      candidate('weekly', '2025-12-21T23:00:00Z', true, 'sunday-before'),
    ];
    const decisions = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(decisions.map((d) => [d.file, d.action, d.reason])).toEqual([
      ['monday-after', 'keep', 'newest weekly backup of 2026-W01 (1 of 12 weeks kept)'],
      ['sunday', 'keep', 'newest weekly backup of 2025-W52 (2 of 12 weeks kept)'],
      ['monday-before', 'remove', 'weekly: a newer backup of the same week (2025-W52) is kept'],
      ['sunday-before', 'keep', 'newest weekly backup of 2025-W51 (3 of 12 weeks kept)'],
    ]);
  });

  it('uses the ISO week-year at year boundaries', () => {
    // Hand-checked: 2024-12-30 (Mon) is in 2025-W01; 2021-01-03 (Sun) is in 2020-W53; 2026-12-31 (Thu) is in 2026-W53.
    const backups = [
      candidate('weekly', '2026-12-31T12:00:00Z', true, 'a'),
      candidate('weekly', '2024-12-30T12:00:00Z', true, 'b'),
      candidate('weekly', '2021-01-03T12:00:00Z', true, 'c'),
    ];
    const decisions = planRetention(backups, DEFAULT_RETENTION, new Date('2027-01-01T00:00:00Z'));
    expect(decisions.map((d) => d.reason)).toEqual([
      'newest weekly backup of 2026-W53 (1 of 12 weeks kept)',
      'newest weekly backup of 2025-W01 (2 of 12 weeks kept)',
      'newest weekly backup of 2020-W53 (3 of 12 weeks kept)',
    ]);
  });
});

describe('planRetention: monthly', () => {
  const twiceAMonth = (): RetentionCandidate[] =>
    daysOf2025()
      .filter((day) => day.endsWith('-01') || day.endsWith('-15'))
      .map((day) => candidate('monthly', `${day}T04:00:00Z`));

  it('keeps the 15th (the newest) of each of the 12 months', () => {
    const backups = twiceAMonth();
    expect(backups).toHaveLength(24);
    const decisions = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(keptDates(decisions)).toEqual([
      '2025-12-15',
      '2025-11-15',
      '2025-10-15',
      '2025-09-15',
      '2025-08-15',
      '2025-07-15',
      '2025-06-15',
      '2025-05-15',
      '2025-04-15',
      '2025-03-15',
      '2025-02-15',
      '2025-01-15',
    ]);
    expect(decisionFor(decisions, 'monthly/2025-12-15T04:00:00Z.db').reason).toBe('newest monthly backup of 2025-12 (1 of 12 months kept)');
    expect(decisionFor(decisions, 'monthly/2025-12-01T04:00:00Z.db').reason).toBe(
      'monthly: a newer backup of the same month (2025-12) is kept',
    );
  });

  it('keeps only the last 3 months with monthlyMonths 3', () => {
    const decisions = planRetention(twiceAMonth(), { ...DEFAULT_RETENTION, monthlyMonths: 3 }, NEW_YEAR_2026);
    expect(keptDates(decisions)).toEqual(['2025-12-15', '2025-11-15', '2025-10-15']);
    expect(decisions.filter((d) => d.action === 'remove')).toHaveLength(21);
  });
});

describe('planRetention: hot', () => {
  it('keeps exactly the hot backups younger than hotDays', () => {
    // One a day at midnight, 2025-06-21 … 2025-06-30; at noon on the 30th the ages are 0.5 … 9.5 days.
    const days = ['21', '22', '23', '24', '25', '26', '27', '28', '29', '30'];
    const backups = days.map((day) => candidate('hot', `2025-06-${day}T00:00:00Z`));
    const decisions = planRetention(backups, DEFAULT_RETENTION, new Date('2025-06-30T12:00:00Z'));
    expect(keptDates(decisions)).toEqual([
      '2025-06-30',
      '2025-06-29',
      '2025-06-28',
      '2025-06-27',
      '2025-06-26',
      '2025-06-25',
      '2025-06-24',
    ]);
    expect(decisionFor(decisions, 'hot/2025-06-24T00:00:00Z.db').reason).toBe('hot: younger than 7 days');
    expect(decisionFor(decisions, 'hot/2025-06-23T00:00:00Z.db').reason).toBe('hot: older than 7 days');
  });

  it('removes a hot backup exactly hotDays old (the window is strictly younger)', () => {
    const backups = [
      candidate('hot', '2025-06-29T00:00:00.000Z'),
      candidate('hot', '2025-06-23T00:00:00.001Z'),
      candidate('hot', '2025-06-23T00:00:00.000Z'),
    ];
    const decisions = planRetention(backups, DEFAULT_RETENTION, new Date('2025-06-30T00:00:00Z'));
    expect(decisions.map((d) => d.action)).toEqual(['keep', 'keep', 'remove']);
  });

  it('removes unverified hot backups even inside the window', () => {
    const backups = [candidate('hot', '2025-06-29T12:00:00Z', false), candidate('hot', '2025-06-29T00:00:00Z')];
    const decisions = planRetention(backups, DEFAULT_RETENTION, new Date('2025-06-30T00:00:00Z'));
    expect(decisions.map((d) => d.action)).toEqual(['remove', 'keep']);
    expect(decisions[0]!.reason).toContain('not verified');
  });
});

describe('planRetention: kinds kept by hand', () => {
  it('never removes pre-rollout, pre-restore or manual backups, however old or unverified', () => {
    const backups = [
      candidate('pre-rollout', '2015-03-01T00:00:00Z'),
      candidate('pre-rollout', '2016-03-01T00:00:00Z', false),
      candidate('pre-restore', '2014-01-01T00:00:00Z'),
      candidate('pre-restore', '2014-01-01T00:00:00Z', false, 'pre-restore/second.db'),
      candidate('manual', '2010-01-01T00:00:00Z'),
      candidate('manual', '2011-01-01T00:00:00Z'),
    ];
    for (const policy of [DEFAULT_RETENTION, NOTHING]) {
      const decisions = planRetention(backups, policy, NEW_YEAR_2026);
      expect(decisions).toHaveLength(6);
      expect(decisions.every((d) => d.action === 'keep')).toBe(true);
    }
    const decisions = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(decisionFor(decisions, 'pre-rollout/2016-03-01T00:00:00Z.db').reason).toBe('pre-rollout backups are kept until deleted by hand');
    expect(decisionFor(decisions, 'manual/2010-01-01T00:00:00Z.db').reason).toBe('manual backups are kept until deleted by hand');
    expect(decisionFor(decisions, 'pre-restore/second.db').reason).toBe('pre-restore backups are kept until deleted by hand');
  });
});

describe('planRetention: safety', () => {
  it('keeps the newest verified backup of each kind with an all-zero policy, skipping an unverified newest', () => {
    const backups: RetentionCandidate[] = [];
    for (const kind of ['daily', 'weekly', 'monthly', 'hot'] as const) {
      backups.push(
        candidate(kind, '2025-12-30T00:00:00Z', false),
        candidate(kind, '2025-12-20T00:00:00Z'),
        candidate(kind, '2025-11-20T00:00:00Z'),
      );
    }
    const decisions = planRetention(backups, NOTHING, NEW_YEAR_2026);
    const kept = decisions.filter((d) => d.action === 'keep');
    expect(kept.map((d) => [d.kind, d.createdAt, d.reason])).toEqual([
      ['daily', '2025-12-20T00:00:00Z', 'newest verified daily backup: never removed'],
      ['hot', '2025-12-20T00:00:00Z', 'newest verified hot backup: never removed'],
      ['monthly', '2025-12-20T00:00:00Z', 'newest verified monthly backup: never removed'],
      ['weekly', '2025-12-20T00:00:00Z', 'newest verified weekly backup: never removed'],
    ]);
    const unverified = decisions.filter((d) => d.createdAt === '2025-12-30T00:00:00Z');
    expect(unverified).toHaveLength(4);
    expect(unverified.every((d) => d.action === 'remove' && d.reason.includes('not verified'))).toBe(true);
    expect(decisionFor(decisions, 'daily/2025-11-20T00:00:00Z.db').reason).toBe('daily: the policy keeps 0 days');
  });

  it('keeps the newest hot backup even when every hot backup is past the window', () => {
    const backups = [candidate('hot', '2025-01-02T00:00:00Z'), candidate('hot', '2025-01-01T00:00:00Z')];
    const decisions = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(decisions.map((d) => [d.action, d.reason])).toEqual([
      ['keep', 'newest verified hot backup: never removed'],
      ['remove', 'hot: older than 7 days'],
    ]);
  });

  it('keeps nothing of a kind whose backups are all unverified', () => {
    const decisions = planRetention([candidate('daily', '2025-12-30T00:00:00Z', false)], DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(decisions.map((d) => d.action)).toEqual(['remove']);
  });
});

describe('planRetention: output and input checks', () => {
  it('returns one decision per input, newest first, ties by file name, whatever the input order', () => {
    const backups = [
      candidate('manual', '2025-05-01T00:00:00Z', true, 'b.db'),
      candidate('daily', '2025-06-01T00:00:00Z', true, 'z.db'),
      candidate('hot', '2025-05-01T00:00:00Z', true, 'a.db'),
      candidate('weekly', '2025-04-01T00:00:00Z', true, 'B.db'),
      candidate('monthly', '2025-05-01T00:00:00Z', true, 'B.db'),
    ];
    const forward = planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026);
    expect(forward.map((d) => d.file)).toEqual(['z.db', 'B.db', 'a.db', 'b.db', 'B.db']);
    expect(forward.map((d) => d.kind)).toEqual(['daily', 'monthly', 'hot', 'manual', 'weekly']);
    expect(planRetention([...backups].reverse(), DEFAULT_RETENTION, NEW_YEAR_2026)).toEqual(forward);
  });

  it('gives the same plan for a shuffled year of daily backups', () => {
    const year = daysOf2025().map((day) => candidate('daily', `${day}T02:00:00.000Z`));
    const shuffled = year
      .map((backup, i) => ({ backup, key: (i * 7919) % 365 }))
      .sort((a, b) => a.key - b.key)
      .map((x) => x.backup);
    expect(planRetention(shuffled, DEFAULT_RETENTION, NEW_YEAR_2026)).toEqual(planRetention(year, DEFAULT_RETENTION, NEW_YEAR_2026));
  });

  it('returns an empty plan for no backups', () => {
    expect(planRetention([], DEFAULT_RETENTION, NEW_YEAR_2026)).toEqual([]);
  });

  it.each([
    'yesterday',
    '',
    '2025-02-30T00:00:00Z', // Date would roll this over to March
    '2025-13-01T00:00:00Z',
    '2025-06-01T24:00:00Z',
    '2025-06-01T02:00:00', // no zone: Date would read it as local time
    'June 1 2025',
  ])('throws naming the file for createdAt %j', (createdAt) => {
    const backups = [candidate('daily', '2025-06-01T02:00:00Z'), candidate('daily', createdAt, true, 'daily/broken.db')];
    expect(() => planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026)).toThrow(/daily\/broken\.db/);
  });

  it('accepts the ISO 8601 forms backups are written with', () => {
    const backups = ['2025-06-01T02:00:00.123Z', '2025-06-02T02:00Z', '2025-06-03T02:00:00+02:00', '2025-06-04'].map((at) =>
      candidate('daily', at),
    );
    expect(planRetention(backups, DEFAULT_RETENTION, NEW_YEAR_2026).every((d) => d.action === 'keep')).toBe(true);
  });

  it.each([
    { ...DEFAULT_RETENTION, dailyDays: -1 },
    { ...DEFAULT_RETENTION, hotDays: Number.NaN },
    { ...DEFAULT_RETENTION, weeklyWeeks: 1.5 },
  ])('rejects a policy that is not whole numbers ≥ 0: %j', (policy) => {
    expect(() => planRetention([candidate('daily', '2025-06-01T02:00:00Z')], policy, NEW_YEAR_2026)).toThrow(/retention/);
  });
});
