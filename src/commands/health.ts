import { stat, statfs } from 'node:fs/promises';
import { hasArchive, newestArchivedSegment } from '../archive/litestream.ts';
import path from 'node:path';
import { readBackupEvents, type BackupEvent } from '../backup/event-log.ts';
import { listBackups, type BackupEntry } from '../backup/store.ts';
import type { ResolvedConfig } from '../config.ts';
import { databaseBytes } from '../db.ts';
import type { ExitCode } from '../errors.ts';
import { pathExists } from '../files.ts';
import { runHook, type HookResult } from '../hooks/run-hook.ts';
import { formatBytes } from '../units.ts';

export interface HealthOptions {
  readonly database: string;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  /** Injectable for tests and for reasoning about "as of". */
  readonly now?: Date;
  readonly cwd?: string;
}

export type HealthCheck = 'backup-age' | 'size-change' | 'failed-job' | 'free-space' | 'drill-age' | 'archive-lag';

export interface HealthAlert {
  readonly check: HealthCheck;
  readonly message: string;
}

export interface HealthReport {
  readonly command: 'health';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly newestVerified: { readonly path: string; readonly kind: string; readonly createdAt: string; readonly ageHours: number } | null;
  readonly alerts: readonly HealthAlert[];
  readonly freeBytes: number;
  readonly databaseBytes: number;
  /** With a local WAL archive: the newest archived point, and how far the database is ahead of it. */
  readonly archive: { readonly recoveryPoint: string | null; readonly lagSeconds: number | null } | null;
  readonly hooks: readonly HookResult[];
}

/**
 * What a monitoring system polls: is there a recent verified backup, did a backup change size
 * suspiciously, did a job fail since it last succeeded, is there room for the next backup.
 * Exit 0 healthy, 4 with alerts; the `onAlert` hook runs once per alert.
 */
export async function runHealth(options: HealthOptions): Promise<HealthReport> {
  const now = options.now ?? new Date();
  const backupDir = path.resolve(options.backupDir);
  const database = path.resolve(options.database);
  const backups = await listBackups(backupDir);
  const alerts: HealthAlert[] = [];

  const newest = backups.find((entry) => entry.verified) ?? null;
  const ageHours = newest ? (now.getTime() - Date.parse(newest.createdAt)) / 3_600_000 : null;
  if (newest === null) {
    alerts.push({ check: 'backup-age', message: `no verified backup in ${backupDir}` });
  } else if (ageHours! > options.config.health.maxAgeHours) {
    alerts.push({
      check: 'backup-age',
      message: `newest verified backup is ${ageHours!.toFixed(1)} h old (limit ${options.config.health.maxAgeHours} h): ${newest.path}`,
    });
  }

  alerts.push(...sizeChanges(backups, options.config.health.sizeChangePercent));
  const events = await readBackupEvents(backupDir);
  alerts.push(...failedJobs(events));
  const drillAlert = staleDrill(events, backups, now, options.config.health.drillMaxAgeDays);
  if (drillAlert) alerts.push(drillAlert);

  const size = (await pathExists(database)) ? await databaseBytes(database) : 0;
  let free = 0;
  if (await pathExists(backupDir)) {
    const fs = await statfs(backupDir);
    free = fs.bavail * fs.bsize;
    const needed = size * options.config.thresholds.freeSpaceFactor;
    if (free < needed) {
      alerts.push({
        check: 'free-space',
        message: `only ${formatBytes(free)} free in ${backupDir}; ${formatBytes(needed)} needed (${options.config.thresholds.freeSpaceFactor}x the ${formatBytes(size)} database)`,
      });
    }
  }

  // The archive's lag: how much newer the database's last write is than the last archived WAL
  // segment. An idle database has no lag even if nothing was shipped for hours.
  let archive: HealthReport['archive'] = null;
  if (await hasArchive(backupDir, options.config.archive)) {
    const segment = await newestArchivedSegment(backupDir);
    let lastWrite = 0;
    for (const file of [database, `${database}-wal`]) {
      lastWrite = Math.max(lastWrite, await stat(file).then((info) => info.mtime.getTime(), () => 0));
    }
    const lagSeconds = segment ? Math.max(0, (lastWrite - segment.getTime()) / 1000) : null;
    archive = { recoveryPoint: segment?.toISOString() ?? null, lagSeconds: lagSeconds === null ? null : Number(lagSeconds.toFixed(1)) };
    if (lagSeconds === null || lagSeconds > options.config.archive.maxLagSeconds) {
      alerts.push({
        check: 'archive-lag',
        message: segment
          ? `the WAL archive is ${lagSeconds!.toFixed(0)} s behind the database (limit ${options.config.archive.maxLagSeconds} s): is migrate-guard archive running?`
          : 'the WAL archive has no segments: is migrate-guard archive running?',
      });
    }
  }

  const hooks: HookResult[] = [];
  const command = options.config.hooks.onAlert;
  if (command !== null) {
    for (const alert of alerts) {
      hooks.push(
        await runHook('onAlert', command, {
          cwd: options.cwd ?? process.cwd(),
          env: { MIGRATE_GUARD_DATABASE: database, MIGRATE_GUARD_ALERT_CHECK: alert.check, MIGRATE_GUARD_ALERT: alert.message },
          timeoutMs: options.config.hooks.timeoutMs,
        }),
      );
    }
  }
  return {
    command: 'health',
    ok: alerts.length === 0,
    exitCode: alerts.length === 0 ? 0 : 4,
    newestVerified: newest ? { path: newest.path, kind: newest.kind, createdAt: newest.createdAt, ageHours: Number(ageHours!.toFixed(2)) } : null,
    alerts,
    freeBytes: free,
    databaseBytes: size,
    archive,
    hooks,
  };
}

/** The newest verified backup of each kind against the one before it. */
function sizeChanges(backups: readonly BackupEntry[], limitPercent: number): HealthAlert[] {
  const alerts: HealthAlert[] = [];
  const byKind = new Map<string, BackupEntry[]>();
  for (const entry of backups.filter((b) => b.verified)) byKind.set(entry.kind, [...(byKind.get(entry.kind) ?? []), entry]);
  for (const [kind, entries] of byKind) {
    const [latest, previous] = entries;
    if (!latest || !previous || previous.bytes === 0) continue;
    const change = ((latest.bytes - previous.bytes) / previous.bytes) * 100;
    if (Math.abs(change) > limitPercent) {
      alerts.push({
        check: 'size-change',
        message: `${kind} backup size changed ${change > 0 ? '+' : ''}${change.toFixed(0)}% (${formatBytes(previous.bytes)} → ${formatBytes(latest.bytes)}, limit ${limitPercent}%): ${latest.path}`,
      });
    }
  }
  return alerts;
}

/**
 * The last successful drill is older than the limit. A new installation is not alerted before it
 * has had backups for that long: there was nothing to drill with.
 */
function staleDrill(events: readonly BackupEvent[], backups: readonly BackupEntry[], now: Date, maxAgeDays: number): HealthAlert | null {
  const limit = now.getTime() - maxAgeDays * 86_400_000;
  const lastDrill = events.filter((event) => event.job === 'drill' && event.error === null).at(-1);
  if (lastDrill && Date.parse(lastDrill.time) >= limit) return null;
  const oldest = backups.filter((entry) => entry.verified).at(-1);
  if (!lastDrill && (!oldest || Date.parse(oldest.createdAt) >= limit)) return null;
  return {
    check: 'drill-age',
    message: lastDrill
      ? `last successful restore drill was ${lastDrill.time}, more than ${maxAgeDays} days ago; run migrate-guard drill`
      : `no successful restore drill in the ${maxAgeDays} days there have been backups; run migrate-guard drill`,
  };
}

/** A job (per kind) whose most recent run failed: it has not succeeded since. */
function failedJobs(events: readonly BackupEvent[]): HealthAlert[] {
  const latest = new Map<string, BackupEvent>();
  for (const event of events) latest.set(`${event.job} ${event.kind ?? ''}`.trim(), event);
  return [...latest.entries()]
    .filter(([, event]) => event.error !== null || !event.verified)
    .map(([job, event]) => ({ check: 'failed-job' as const, message: `last ${job} failed at ${event.time}: ${event.error ?? 'not verified'}` }));
}
