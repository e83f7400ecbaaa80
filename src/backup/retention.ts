import * as v from 'valibot';
import { retentionSchema } from '../config/schema.ts';
import type { BackupKind } from './kinds.ts';

export interface RetentionPolicy {
  /** The newest backup of each of the last N days that have one. */
  readonly dailyDays: number;
  /** Every hot backup younger than N days. */
  readonly hotDays: number;
  /** The newest backup of each of the last N ISO weeks that have one. */
  readonly weeklyWeeks: number;
  /** The newest backup of each of the last N calendar months that have one. */
  readonly monthlyMonths: number;
}

/** The config schema's defaults: written once, there. */
export const DEFAULT_RETENTION: RetentionPolicy = v.parse(retentionSchema, {});

export interface RetentionCandidate {
  readonly file: string;
  readonly kind: BackupKind;
  /** ISO 8601 with an explicit `Z` or offset, so the UTC day does not depend on the machine's time zone. */
  readonly createdAt: string;
  readonly verified: boolean;
}

export interface RetentionDecision {
  readonly file: string;
  readonly kind: BackupKind;
  readonly createdAt: string;
  readonly action: 'keep' | 'remove';
  readonly reason: string;
}

type Action = RetentionDecision['action'];
type Period = 'day' | 'week' | 'month';

interface Verdict {
  readonly action: Action;
  readonly reason: string;
}

interface Entry {
  readonly backup: RetentionCandidate;
  readonly at: number;
}

const DAY_MS = 86_400_000;
const NOT_VERIFIED: Verdict = { action: 'remove', reason: 'not verified: not a backup to restore from' };

const plural = (count: number, unit: string): string => `${count} ${unit}${count === 1 ? '' : 's'}`;

function dayKey(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

function monthKey(at: number): string {
  return new Date(at).toISOString().slice(0, 7);
}

function isoWeekKey(at: number): string {
  const date = new Date(at);
  const thursday = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = thursday.getUTCDay() || 7; // Monday 1 … Sunday 7
  // The Thursday of an ISO week decides its week-year, so 2024-12-30 lands in 2025-W01.
  thursday.setUTCDate(thursday.getUTCDate() + 4 - weekday);
  const year = thursday.getUTCFullYear();
  const week = Math.ceil(((thursday.getTime() - Date.UTC(year, 0, 1)) / DAY_MS + 1) / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

const PERIOD_KEY: Readonly<Record<Period, (at: number) => string>> = { day: dayKey, week: isoWeekKey, month: monthKey };

// Stricter than `new Date()`, which reads a zone-less time as local time (so the UTC day would
// depend on the machine) and silently rolls 2025-02-30 over to March.
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2})))?$/;

function parseCreatedAt(backup: RetentionCandidate): number {
  const fail = (): never => {
    throw new Error(
      `backup ${backup.file} has an invalid createdAt ${JSON.stringify(backup.createdAt)}: expected an ISO 8601 UTC timestamp`,
    );
  };
  const match = typeof backup.createdAt === 'string' ? ISO_8601.exec(backup.createdAt) : null;
  if (!match) return fail();
  const part = (index: number): number => Number(match[index] ?? 0);
  const daysInMonth = new Date(Date.UTC(part(1), part(2), 0)).getUTCDate();
  const inRange =
    part(2) >= 1 &&
    part(2) <= 12 &&
    part(3) >= 1 &&
    part(3) <= daysInMonth &&
    part(4) <= 23 &&
    part(5) <= 59 &&
    part(6) <= 59 &&
    part(7) <= 23 &&
    part(8) <= 59;
  const at = Date.parse(backup.createdAt);
  if (!inRange || Number.isNaN(at)) return fail();
  return at;
}

function checkPolicy(policy: RetentionPolicy): void {
  for (const field of ['dailyDays', 'hotDays', 'weeklyWeeks', 'monthlyMonths'] as const) {
    const value = policy[field];
    // NaN or a negative count would otherwise quietly mean "remove everything but the newest".
    if (!Number.isInteger(value) || value < 0) throw new Error(`retention ${field} must be a whole number ≥ 0, got ${String(value)}`);
  }
}

/** restic-style buckets: the last `limit` periods *that have a verified backup*, not calendar periods back from now. */
function bucketed(kind: BackupKind, ofKind: readonly Entry[], period: Period, limit: number): Verdict[] {
  const keyOf = PERIOD_KEY[period];
  const keptKeys = new Set<string>();
  return ofKind.map(({ backup, at }): Verdict => {
    // An unverified backup must not fill a bucket, or it would push out a restorable one.
    if (!backup.verified) return NOT_VERIFIED;
    const key = keyOf(at);
    if (keptKeys.has(key)) return { action: 'remove', reason: `${kind}: a newer backup of the same ${period} (${key}) is kept` };
    if (keptKeys.size < limit) {
      keptKeys.add(key);
      return { action: 'keep', reason: `newest ${kind} backup of ${key} (${keptKeys.size} of ${plural(limit, period)} kept)` };
    }
    if (limit === 0) return { action: 'remove', reason: `${kind}: the policy keeps 0 ${period}s` };
    return {
      action: 'remove',
      reason: `${kind}: older than the ${limit} most recent ${limit === 1 ? period : `${period}s`} with a backup`,
    };
  });
}

function decideKind(kind: BackupKind, ofKind: readonly Entry[], policy: RetentionPolicy, now: number): Verdict[] {
  switch (kind) {
    case 'manual':
    case 'pre-rollout':
    case 'pre-restore':
      return ofKind.map(() => ({ action: 'keep', reason: `${kind} backups are kept until deleted by hand` }));
    case 'hot': {
      const cutoff = now - policy.hotDays * DAY_MS;
      const window = plural(policy.hotDays, 'day');
      return ofKind.map(({ backup, at }): Verdict => {
        if (!backup.verified) return NOT_VERIFIED;
        return at > cutoff
          ? { action: 'keep', reason: `hot: younger than ${window}` }
          : { action: 'remove', reason: `hot: older than ${window}` };
      });
    }
    case 'daily':
      return bucketed(kind, ofKind, 'day', policy.dailyDays);
    case 'weekly':
      return bucketed(kind, ofKind, 'week', policy.weeklyWeeks);
    case 'monthly':
      return bucketed(kind, ofKind, 'month', policy.monthlyMonths);
    default: {
      // Kinds come from manifests on disk; one this version does not know is kept rather than guessed at.
      const unknown: never = kind;
      return ofKind.map(() => ({ action: 'keep', reason: `unknown kind ${JSON.stringify(unknown)}: no rule removes it` }));
    }
  }
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Which backups a prune keeps, like restic's `forget --keep-daily/--keep-weekly/--keep-monthly`:
 * per kind, the newest verified backup of each of the last N periods *that have a backup* (so a
 * week without backups does not eat into the N), hot backups for a window of days, and the
 * hand-managed kinds forever. Whatever the policy says, the newest verified backup of a kind is
 * never removed: a prune must not be able to leave a kind with nothing to restore.
 *
 * One decision per input, newest first (ties by file name, by code unit so no locale can reorder).
 */
export function planRetention(backups: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  checkPolicy(policy);
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new Error('retention: now is an invalid date');
  const newestFirst: Entry[] = backups
    .map((backup) => ({ backup, at: parseCreatedAt(backup) }))
    .sort((a, b) => b.at - a.at || byCodeUnits(a.backup.file, b.backup.file));

  const byKind = new Map<BackupKind, Entry[]>();
  for (const entry of newestFirst) {
    const group = byKind.get(entry.backup.kind);
    if (group) group.push(entry);
    else byKind.set(entry.backup.kind, [entry]);
  }

  // Keyed by entry, not file name, so even duplicate names each get their own decision.
  const verdicts = new Map<Entry, Verdict>();
  for (const [kind, ofKind] of byKind) {
    const decided = decideKind(kind, ofKind, policy, nowMs);
    ofKind.forEach((entry, index) => verdicts.set(entry, decided[index]!));
    const newestVerified = ofKind.find((entry) => entry.backup.verified);
    if (newestVerified && verdicts.get(newestVerified)?.action !== 'keep') {
      verdicts.set(newestVerified, { action: 'keep', reason: `newest verified ${kind} backup: never removed` });
    }
  }

  return newestFirst.map((entry) => {
    const { action, reason } = verdicts.get(entry)!;
    const { file, kind, createdAt } = entry.backup;
    return { file, kind, createdAt, action, reason };
  });
}
