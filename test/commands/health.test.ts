import { describe, expect, it } from 'vitest';
import type { BackupEvent, JobName } from '../../src/backup/event-log.ts';
import type { BackupKind } from '../../src/backup/kinds.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import type { BackupEntry } from '../../src/backup/store.ts';
import { archiveAlert, failedJobs, lastRuns, scrubAlerts, sizeChanges, staleDrill } from '../../src/commands/health.ts';

const NOW = new Date('2026-03-31T12:00:00.000Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000).toISOString();

/** A backup as `listBackups` gives it; `plainBytes` is the manifest's (decompressed) size. */
function backup(
  kind: BackupKind,
  createdAt: string,
  bytes: number,
  options: { verified?: boolean; compressed?: boolean; plainBytes?: number } = {},
): BackupEntry {
  const verified = options.verified ?? true;
  const compressed = options.compressed ?? false;
  const file = `/srv/backups/${kind}/app_${kind}_${createdAt}.db${compressed ? '.gz' : ''}`;
  const manifest = {
    format: 'migrate-guard-backup/2',
    file,
    source: '/srv/app.db',
    kind,
    createdAt,
    bytes: options.plainBytes ?? bytes,
    sha256: 'ab',
    compressed,
    compressedBytes: compressed ? bytes : null,
    compressedSha256: compressed ? 'cd' : null,
    verified,
    verifiedAt: verified ? createdAt : null,
  } as BackupManifest;
  return {
    path: file,
    kind,
    createdAt,
    bytes,
    compressed,
    sha256: 'ab',
    verified,
    scrubbedAt: null,
    scrubError: null,
    source: manifest.source,
    manifest,
    problem: null,
  };
}

/** Newest first, as listBackups sorts them. */
const newestFirst = (entries: BackupEntry[]) => [...entries].sort((a, b) => b.createdAt.localeCompare(a.createdAt));

function event(
  job: JobName,
  time: string,
  options: { kind?: BackupKind | null; error?: string | null; verified?: boolean; file?: string | null } = {},
): BackupEvent {
  const error = options.error ?? null;
  return {
    time,
    job,
    kind: options.kind ?? null,
    file: options.file ?? null,
    bytes: null,
    durationMs: 5,
    verified: options.verified ?? error === null,
    error,
  };
}

describe('sizeChanges', () => {
  it('says nothing about the first backup of a kind', () => {
    expect(sizeChanges([backup('daily', daysAgo(0), 1000)], 20)).toEqual([]);
    expect(sizeChanges([], 20)).toEqual([]);
  });

  it('alerts when the newest backup grew or shrank more than the limit, naming it', () => {
    const grew = newestFirst([backup('daily', daysAgo(1), 1000), backup('daily', daysAgo(0), 1300)]);
    const alerts = sizeChanges(grew, 20);
    expect(alerts).toEqual([{ check: 'size-change', message: expect.stringContaining('+30%') }]);
    expect(alerts[0]!.message).toContain(grew[0]!.path);
    expect(alerts[0]!.message).toMatch(/^daily /);

    const shrank = newestFirst([backup('manual', daysAgo(1), 1000), backup('manual', daysAgo(0), 500)]);
    expect(sizeChanges(shrank, 20)).toEqual([{ check: 'size-change', message: expect.stringContaining('-50%') }]);
  });

  it('does not alert at exactly the limit, or within it', () => {
    expect(sizeChanges(newestFirst([backup('daily', daysAgo(1), 1000), backup('daily', daysAgo(0), 1200)]), 20)).toEqual([]);
    expect(sizeChanges(newestFirst([backup('daily', daysAgo(1), 1000), backup('daily', daysAgo(0), 800)]), 20)).toEqual([]);
  });

  it('compares only the two newest of a kind', () => {
    const entries = newestFirst([backup('daily', daysAgo(2), 10), backup('daily', daysAgo(1), 1000), backup('daily', daysAgo(0), 1010)]);
    expect(sizeChanges(entries, 20)).toEqual([]);
  });

  it('compares each kind with its own previous backup', () => {
    const entries = newestFirst([
      backup('daily', daysAgo(3), 1000),
      backup('hot', daysAgo(2), 5000),
      backup('daily', daysAgo(1), 1050),
      backup('hot', daysAgo(0), 100),
    ]);
    const alerts = sizeChanges(entries, 20);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.message).toMatch(/^hot backup size changed -98%/);
  });

  it('skips a previous backup of size 0 rather than divide by it', () => {
    expect(sizeChanges(newestFirst([backup('daily', daysAgo(1), 0), backup('daily', daysAgo(0), 1000)]), 20)).toEqual([]);
  });

  it('ignores unverified backups on either side', () => {
    const entries = newestFirst([
      backup('daily', daysAgo(2), 1000),
      backup('daily', daysAgo(1), 10, { verified: false }),
      backup('daily', daysAgo(0), 1100),
      backup('weekly', daysAgo(1), 1000),
      backup('weekly', daysAgo(0), 1, { verified: false }),
    ]);
    expect(sizeChanges(entries, 20)).toEqual([]);
  });

  // Regression (this test found it): the comparison uses the bytes on disk, so a compressed backup after a plain one of the
  // same kind (`backup --kind manual --compress`) alerts a large "shrink" although the database
  // did not change; the manifest's `bytes` (the plain size) is what says how big the data is.
  it('does not alert when only the compression changed between two backups of a kind', () => {
    const entries = newestFirst([
      backup('manual', daysAgo(1), 10_000_000),
      backup('manual', daysAgo(0), 1_000_000, { compressed: true, plainBytes: 10_000_000 }),
    ]);
    expect(sizeChanges(entries, 20)).toEqual([]);
  });
});

describe('staleDrill', () => {
  const verifiedBackups = (ageDays: number) => [backup('daily', daysAgo(0), 1000), backup('daily', daysAgo(ageDays), 1000)];

  it('is quiet when the last successful drill is recent', () => {
    expect(staleDrill([event('drill', daysAgo(10))], verifiedBackups(100), NOW, 35)).toBeNull();
  });

  it('is quiet for a drill exactly at the limit', () => {
    expect(staleDrill([event('drill', daysAgo(35))], verifiedBackups(100), NOW, 35)).toBeNull();
  });

  it('alerts when the last successful drill is older than the limit, naming when it was', () => {
    const alert = staleDrill([event('drill', daysAgo(40))], verifiedBackups(100), NOW, 35);
    expect(alert).toEqual({ check: 'drill-age', message: expect.stringContaining(daysAgo(40)) });
  });

  it('does not count failed drills', () => {
    const events = [event('drill', daysAgo(50)), event('drill', daysAgo(1), { error: 'restore too slow' })];
    expect(staleDrill(events, verifiedBackups(100), NOW, 35)?.message).toContain(daysAgo(50));
  });

  it('does not alert a new installation whose backups are younger than the limit', () => {
    expect(staleDrill([], [], NOW, 35)).toBeNull();
    expect(staleDrill([], verifiedBackups(20), NOW, 35)).toBeNull();
    expect(staleDrill([event('backup', daysAgo(20), { kind: 'daily' })], verifiedBackups(34), NOW, 35)).toBeNull();
  });

  it('alerts when there have been verified backups for longer than the limit and never a drill', () => {
    const alert = staleDrill([], verifiedBackups(36), NOW, 35);
    expect(alert).toEqual({ check: 'drill-age', message: expect.stringContaining('no successful restore drill') });
  });

  it('counts only verified backups for the age of the installation', () => {
    const entries = [backup('daily', daysAgo(0), 1000), backup('daily', daysAgo(100), 1000, { verified: false })];
    expect(staleDrill([], entries, NOW, 35)).toBeNull();
  });

  it('takes the last drill in log order, not the first', () => {
    const events = [event('drill', daysAgo(90)), event('drill', daysAgo(2))];
    expect(staleDrill(events, verifiedBackups(100), NOW, 35)).toBeNull();
  });
});

describe('failedJobs', () => {
  it('is quiet when every job last succeeded', () => {
    expect(failedJobs([])).toEqual([]);
    expect(failedJobs([event('backup', daysAgo(1), { kind: 'daily' }), event('prune', daysAgo(1))])).toEqual([]);
  });

  it('forgets a failure followed by a success of the same job and kind', () => {
    const events = [event('backup', daysAgo(2), { kind: 'daily', error: 'disk full' }), event('backup', daysAgo(1), { kind: 'daily' })];
    expect(failedJobs(events)).toEqual([]);
  });

  it('alerts on a success followed by a failure, with the time and the error', () => {
    const events = [event('backup', daysAgo(2), { kind: 'daily' }), event('backup', daysAgo(1), { kind: 'daily', error: 'disk full' })];
    expect(failedJobs(events)).toEqual([{ check: 'failed-job', message: `last backup daily failed at ${daysAgo(1)}: disk full` }]);
  });

  it('keeps kinds apart: another kind succeeding does not clear a failure', () => {
    const events = [event('backup', daysAgo(2), { kind: 'daily', error: 'disk full' }), event('backup', daysAgo(1), { kind: 'hot' })];
    expect(failedJobs(events).map((alert) => alert.message)).toEqual([`last backup daily failed at ${daysAgo(2)}: disk full`]);
  });

  it('keeps jobs apart, including jobs without a kind', () => {
    const events = [
      event('prune', daysAgo(3), { error: 'permission denied' }),
      event('drill', daysAgo(2), { error: 'too slow' }),
      event('drill', daysAgo(1)),
    ];
    expect(failedJobs(events).map((alert) => alert.message)).toEqual([`last prune failed at ${daysAgo(3)}: permission denied`]);
  });

  it('alerts on a last run that did not fail but is not verified', () => {
    const events = [event('verify', daysAgo(1), { kind: 'weekly', verified: false })];
    expect(failedJobs(events)).toEqual([{ check: 'failed-job', message: `last verify weekly failed at ${daysAgo(1)}: not verified` }]);
  });
});

describe('archiveAlert', () => {
  it('is quiet within the lag limit, the limit itself included', () => {
    expect(archiveAlert({ recoveryPoint: NOW.toISOString(), lagSeconds: 0 }, 60)).toBeNull();
    expect(archiveAlert({ recoveryPoint: NOW.toISOString(), lagSeconds: 60 }, 60)).toBeNull();
  });

  it('alerts past the limit, saying how far behind', () => {
    expect(archiveAlert({ recoveryPoint: NOW.toISOString(), lagSeconds: 61 }, 60)).toEqual({
      check: 'archive-lag',
      message: expect.stringContaining('61 s behind the database (limit 60 s)'),
    });
  });

  it('alerts when nothing has been archived', () => {
    expect(archiveAlert({ recoveryPoint: null, lagSeconds: null }, 60)).toEqual({
      check: 'archive-lag',
      message: expect.stringContaining('no segments'),
    });
  });
});

describe('scrubAlerts', () => {
  const HOURS = 26;
  const hoursAgo = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000).toISOString();
  const scrubRun = (time: string, error: string | null = null) => event('scrub', time, { error });
  const failedScrub = (entry: BackupEntry): BackupEntry => ({
    ...entry,
    verified: false,
    scrubbedAt: hoursAgo(1),
    scrubError: 'checksum: sha256 … differs',
  });

  it('says nothing on a new installation that never had a backup', () => {
    expect(scrubAlerts([], [], NOW, HOURS)).toEqual([]);
  });

  it('does not alert before there have been backups for the limit, scrub or not', () => {
    expect(scrubAlerts([], [backup('daily', hoursAgo(25), 1000)], NOW, HOURS)).toEqual([]);
  });

  it('alerts when there have been backups for longer than the limit and never a scrub', () => {
    const alerts = scrubAlerts([], [backup('daily', hoursAgo(1), 1000), backup('daily', hoursAgo(27), 1000)], NOW, HOURS);
    expect(alerts).toEqual([{ check: 'scrub-age', message: expect.stringContaining('no scrub (verify --all) has run') }]);
  });

  it('is quiet while the last scrub run is within the limit, even one that found a bad backup', () => {
    expect(
      scrubAlerts([scrubRun(hoursAgo(25), '1 of 2 backups no longer match')], [backup('daily', hoursAgo(50), 1000)], NOW, HOURS),
    ).toEqual([]);
  });

  it('alerts when the last scrub run is older than the limit, saying when it ran', () => {
    const alerts = scrubAlerts([scrubRun(hoursAgo(30)), scrubRun(hoursAgo(27))], [backup('daily', hoursAgo(50), 1000)], NOW, HOURS);
    expect(alerts).toEqual([{ check: 'scrub-age', message: expect.stringContaining(hoursAgo(27)) }]);
  });

  it("counts runs by their summary line, not a backup's line", () => {
    const perBackup = event('scrub', hoursAgo(1), { kind: 'daily', file: '/srv/backups/daily/x.db.gz' });
    expect(scrubAlerts([scrubRun(hoursAgo(30)), perBackup], [backup('daily', hoursAgo(50), 1000)], NOW, HOURS).map((a) => a.check)).toEqual(
      ['scrub-age'],
    );
  });

  it('alerts once per backup that failed its scrub, naming it and why, however recent the scrub', () => {
    const bad = failedScrub(backup('daily', hoursAgo(5), 1000));
    const alerts = scrubAlerts([scrubRun(hoursAgo(1))], [backup('daily', hoursAgo(2), 1000), bad], NOW, HOURS);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.check).toBe('scrub-failed');
    expect(alerts[0]!.message).toContain(bad.path);
    expect(alerts[0]!.message).toContain('differs');
  });
});

describe('failedJobs and lastRuns with scrubs', () => {
  it('leaves scrub failures to scrubAlerts: a later scrub of another backup of the kind cannot hide one', () => {
    const events = [
      event('scrub', daysAgo(0), { kind: 'daily', file: '/a.db.gz', error: 'checksum differs' }),
      event('scrub', daysAgo(0), { kind: 'daily', file: '/b.db.gz' }),
      event('scrub', daysAgo(0), { error: '1 of 2 backups no longer match' }),
    ];
    expect(failedJobs(events)).toEqual([]);
  });

  it('reports the last run of each job and kind, a scrub by its run line', () => {
    const events = [
      event('backup', daysAgo(2), { kind: 'daily' }),
      event('backup', daysAgo(1), { kind: 'daily', error: 'disk full' }),
      event('drill', daysAgo(1)),
      event('scrub', daysAgo(0), { kind: 'daily', file: '/a.db.gz', error: 'checksum differs' }),
      event('scrub', daysAgo(0), { error: '1 of 1 backups no longer match' }),
    ];
    expect(lastRuns(events)).toEqual([
      { job: 'backup', kind: 'daily', time: daysAgo(1), ok: false },
      { job: 'drill', kind: null, time: daysAgo(1), ok: true },
      { job: 'scrub', kind: null, time: daysAgo(0), ok: false },
    ]);
  });
});
