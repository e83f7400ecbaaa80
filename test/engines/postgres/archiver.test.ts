import { describe, expect, it } from 'vitest';
import { restorePointName } from '../../../src/backup/restore-point.ts';
import { archivedPast, parseSegment } from '../../../src/engines/postgres/archiver.ts';

describe('WAL segment names, as pg_stat_archiver reports them', () => {
  it('reads timeline and position, and nothing from a history file', () => {
    expect(parseSegment('00000002000000010000000A')).toEqual({ timeline: 2, position: (1n << 32n) | 10n });
    expect(parseSegment('000000010000000000000003.00000028.backup')).toEqual({ timeline: 1, position: 3n });
    expect(parseSegment('00000002.history')).toBeNull();
    expect(parseSegment(null)).toBeNull();
  });

  it('compares positions as numbers and timelines as histories, not as text', () => {
    const wanted = '000000010000000000000003';
    expect(archivedPast('000000010000000000000003', wanted)).toBe(true);
    expect(archivedPast('000000010000000100000000', wanted)).toBe(true);
    expect(archivedPast('000000010000000000000002', wanted)).toBe(false);
    // A backup label names the segment it is in: archived past the one before it only.
    expect(archivedPast('000000010000000000000002.00000028.backup', wanted)).toBe(false);
    // Another timeline: a later one began after our segment (promotion archives the old first); an earlier one says nothing.
    expect(archivedPast('000000020000000000000004', wanted)).toBe(true);
    expect(archivedPast('000000020000000000000002', wanted)).toBe(false);
    expect(archivedPast('00000001000000000000000F', '000000020000000000000003')).toBe(false);
    // The old timeline's last segment cut short at a promotion is not the whole segment.
    expect(archivedPast('000000010000000000000003.partial', wanted)).toBe(false);
    expect(archivedPast('00000002.history', wanted)).toBe(false);
    expect(archivedPast(null, wanted)).toBe(false);
  });
});

describe('restore point names', () => {
  it('are migrate-guard-<database>-<run stamp>, at most 63 bytes', () => {
    expect(restorePointName('/b/pre-rollout/app_pre-rollout_20261207_153745.restore-point', 'app')).toBe(
      'migrate-guard-app-20261207_153745',
    );
    expect(restorePointName('/b/pre-rollout/app_pre-rollout_20261207_153745_2.restore-point', 'app')).toBe(
      'migrate-guard-app-20261207_153745_2',
    );
    const long = restorePointName('/b/x_pre-rollout_20261207_153745.restore-point', 'd'.repeat(63));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^migrate-guard-d+-20261207_153745$/);
  });
});
