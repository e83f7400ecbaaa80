import type { BackupKind } from './manifest.ts';

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

export const DEFAULT_RETENTION: RetentionPolicy = { dailyDays: 30, hotDays: 7, weeklyWeeks: 12, monthlyMonths: 12 };

export interface RetentionCandidate {
  readonly file: string;
  readonly kind: BackupKind;
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

const KEPT_BY_HAND: ReadonlySet<BackupKind> = new Set(['pre-rollout', 'pre-restore', 'manual']);

/** UTC day, ISO week (Monday first, ISO week-year) and month keys. */
function dayKey(at: Date): string {
  return at.toISOString().slice(0, 10);
}
function monthKey(at: Date): string {
  return at.toISOString().slice(0, 7);
}
function isoWeekKey(at: Date): string {
  const date = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = date.getUTCDay() || 7; // Monday 1 … Sunday 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this ISO week decides its year
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const BUCKETS = {
  daily: { key: dayKey, unit: 'day', policy: (p: RetentionPolicy) => p.dailyDays },
  weekly: { key: isoWeekKey, unit: 'week', policy: (p: RetentionPolicy) => p.weeklyWeeks },
  monthly: { key: monthKey, unit: 'month', policy: (p: RetentionPolicy) => p.monthlyMonths },
} as const;

/**
 * Which backups a prune keeps, like restic's `forget --keep-daily/--keep-weekly/--keep-monthly`:
 * per kind, the newest verified backup of each of the last N periods *that have a backup* (so a
 * week without backups does not eat into the N), hot backups for a window of days, and the
 * hand-managed kinds forever. Whatever the policy says, the newest verified backup of a kind is
 * never removed: a prune must not be able to leave a kind with nothing to restore.
 */
export function planRetention(backups: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const parsed = backups.map((backup) => {
    const at = new Date(backup.createdAt);
    if (Number.isNaN(at.getTime())) throw new Error(`backup ${backup.file} has an invalid createdAt: ${backup.createdAt}`);
    return { ...backup, at };
  });
  const newestFirst = [...parsed].sort((a, b) => b.at.getTime() - a.at.getTime() || a.file.localeCompare(b.file));
  const decisions = new Map<string, RetentionDecision>();
  const decide = (backup: (typeof parsed)[number], action: 'keep' | 'remove', reason: string) =>
    decisions.set(backup.file, { file: backup.file, kind: backup.kind, createdAt: backup.createdAt, action, reason });

  for (const kind of new Set(newestFirst.map((backup) => backup.kind))) {
    const ofKind = newestFirst.filter((backup) => backup.kind === kind);
    const newestVerified = ofKind.find((backup) => backup.verified);
    for (const backup of ofKind) {
      if (KEPT_BY_HAND.has(kind)) decide(backup, 'keep', `${kind} backups are kept until deleted by hand`);
      else if (!backup.verified) decide(backup, 'remove', 'not verified: not a backup to restore from');
    }
    if (kind === 'hot') {
      const cutoff = now.getTime() - policy.hotDays * 86_400_000;
      for (const backup of ofKind.filter((b) => b.verified)) {
        if (backup.at.getTime() > cutoff) decide(backup, 'keep', `hot: younger than ${policy.hotDays} days`);
        else decide(backup, 'remove', `hot: older than ${policy.hotDays} days`);
      }
    } else if (kind === 'daily' || kind === 'weekly' || kind === 'monthly') {
      const bucket = BUCKETS[kind];
      const limit = bucket.policy(policy);
      const kept = new Set<string>();
      const dropped = new Set<string>();
      for (const backup of ofKind.filter((b) => b.verified)) {
        const key = bucket.key(backup.at);
        if (kept.has(key)) {
          decide(backup, 'remove', `${kind}: a newer backup of the same ${bucket.unit} (${key}) is kept`);
        } else if (!dropped.has(key) && kept.size < limit) {
          kept.add(key);
          decide(backup, 'keep', `newest ${kind} backup of ${key} (${kept.size} of ${limit} ${bucket.unit}s kept)`);
        } else {
          dropped.add(key);
          decide(backup, 'remove', `${kind}: older than the ${limit} most recent ${bucket.unit}s with a backup`);
        }
      }
    }
    if (newestVerified && decisions.get(newestVerified.file)?.action !== 'keep') {
      decide(newestVerified, 'keep', `newest verified ${kind} backup: never removed`);
    }
  }
  return newestFirst.map((backup) => decisions.get(backup.file)!);
}
