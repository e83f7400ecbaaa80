import path from 'node:path';
import { eventsOf, readBackupEvents, type BackupEvent } from '../backup/event-log.ts';
import { backupOwner, namedFor } from '../backup/identity.ts';
import { listBackups, type BackupEntry } from '../backup/store.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import { engineFor } from '../engines/select.ts';
import type { EngineKind } from '../engines/contract.ts';
import { checkFreeSpace } from '../fs/free-space.ts';
import { pathExists } from '../fs/paths.ts';
import { hookRunner } from '../hooks/hook-runner.ts';
import type { HealthAlert, HealthReport } from '../monitoring/health-report.ts';
import { renderPrometheus, writePrometheusFile } from '../monitoring/prometheus.ts';
import { formatBytes } from '../units.ts';

export interface HealthOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  /** Injectable for tests and for reasoning about "as of". */
  readonly now?: Date;
  readonly cwd?: string;
  /** Also write the report as Prometheus metrics (node_exporter's textfile collector) to this file. */
  readonly prometheus?: string;
}

export type { HealthAlert, HealthCheck, HealthReport } from '../monitoring/health-report.ts';

/**
 * What a monitoring system polls: is there a recent verified backup, did a backup change size
 * suspiciously, did a job fail since it last succeeded, is there room for the next backup.
 * Exit 0 healthy, 4 with alerts; the `onAlert` hook runs once per alert.
 */
export async function runHealth(options: HealthOptions): Promise<HealthReport> {
  const now = options.now ?? new Date();
  const backupDir = path.resolve(options.backupDir);
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  const database = engine.name;
  // Only this database's backups: another's in a shared folder says nothing about this one.
  const owner = await backupOwner(engine);
  const backups = await listBackups(backupDir, { owner });
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
  // This database's jobs only: another database's failed backup in a shared folder is its alert.
  const events = eventsOf(await readBackupEvents(backupDir), database, (file) => namedFor(file, owner));
  alerts.push(...failedJobs(events));
  const drillAlert = staleDrill(events, backups, now, options.config.health.drillMaxAgeDays);
  if (drillAlert) alerts.push(drillAlert);
  alerts.push(...scrubAlerts(events, backups, now, options.config.health.scrubMaxAgeHours));

  const size = (await engine.probe()) === 'missing' ? 0 : await engine.size();
  let free = 0;
  if (await pathExists(backupDir)) {
    const space = await checkFreeSpace(backupDir, size, options.config.thresholds.freeSpaceFactor);
    free = space.free;
    if (space.problem !== null) alerts.push({ check: 'free-space', message: space.problem });
  }

  let archive: HealthReport['archive'] = null;
  if (engine.pointInTime && (await engine.pointInTime.has(backupDir, options.config.archive))) {
    archive = await engine.pointInTime.lag(backupDir);
    const alert = archiveAlert(archive, options.config.archive.maxLagSeconds);
    if (alert) alerts.push(alert);
  }

  const secondsSince = (time: string) => Math.round((now.getTime() - Date.parse(time)) / 1000);
  const lastDrill = events.filter((event) => event.job === 'drill' && event.error === null).at(-1) ?? null;
  const scrubbed = lastScrub(events);
  const report: Omit<HealthReport, 'hooks'> = {
    command: 'health',
    ok: alerts.length === 0,
    exitCode: alerts.length === 0 ? 0 : 4,
    newestVerified: newest
      ? { path: newest.path, kind: newest.kind, createdAt: newest.createdAt, ageHours: Number(ageHours!.toFixed(2)) }
      : null,
    alerts,
    freeBytes: free,
    databaseBytes: size,
    archive,
    kinds: newestPerKind(backups).map((entry) => ({
      kind: entry.kind,
      path: entry.path,
      createdAt: entry.createdAt,
      ageSeconds: secondsSince(entry.createdAt),
      bytes: entry.bytes,
    })),
    jobs: lastRuns(events),
    drill: { lastSuccess: lastDrill?.time ?? null, ageSeconds: lastDrill ? secondsSince(lastDrill.time) : null },
    scrub: {
      lastRun: scrubbed?.time ?? null,
      ageSeconds: scrubbed ? secondsSince(scrubbed.time) : null,
      failed: backups.filter((entry) => entry.scrubError !== null).map((entry) => entry.path),
    },
    prometheus: options.prometheus ? path.resolve(options.cwd ?? process.cwd(), options.prometheus) : null,
  };
  // Metrics first: a monitoring system must get them even when an alert hook hangs.
  if (report.prometheus !== null) await writePrometheusFile(report.prometheus, renderPrometheus(report));

  const hooks = hookRunner({ hooks: options.config.hooks, cwd: options.cwd ?? process.cwd(), env: { MIGRATE_GUARD_DATABASE: database } });
  for (const alert of alerts) await hooks.run('onAlert', { MIGRATE_GUARD_ALERT_CHECK: alert.check, MIGRATE_GUARD_ALERT: alert.message });
  return { ...report, hooks: hooks.results };
}

/** The newest verified backup of each kind, newest kind first. */
function newestPerKind(backups: readonly BackupEntry[]): BackupEntry[] {
  const seen = new Set<string>();
  return backups.filter((entry) => entry.verified && !seen.has(entry.kind) && seen.add(entry.kind));
}

/** The last run of each job per kind; a scrub counts by its run line, not its per-backup lines. */
export function lastRuns(events: readonly BackupEvent[]): HealthReport['jobs'] {
  const latest = new Map<string, BackupEvent>();
  for (const event of events) {
    if (event.job === 'scrub' && event.file !== null) continue;
    latest.set(`${event.job} ${event.kind ?? ''}`, event);
  }
  return [...latest.values()].map((event) => ({
    job: event.job,
    kind: event.kind,
    time: event.time,
    ok: event.error === null && event.verified,
  }));
}

/** The last scrub run (its summary line), or null. */
export function lastScrub(events: readonly BackupEvent[]): BackupEvent | null {
  return events.filter((event) => event.job === 'scrub' && event.file === null).at(-1) ?? null;
}

/**
 * A backup that failed its last scrub (one alert each, naming it: it stays failed in its manifest
 * until a scrub finds it matching again or it is removed), and a scrub older than the limit. A new
 * installation is not alerted before it has had backups for that long: there was nothing to scrub.
 */
export function scrubAlerts(
  events: readonly BackupEvent[],
  backups: readonly BackupEntry[],
  now: Date,
  maxAgeHours: number,
): HealthAlert[] {
  const alerts: HealthAlert[] = backups
    .filter((entry) => entry.scrubError !== null)
    .map((entry) => ({
      check: 'scrub-failed',
      message: `backup ${entry.path} failed its scrub at ${entry.scrubbedAt}: ${entry.scrubError}; it no longer counts as verified`,
    }));
  const limit = now.getTime() - maxAgeHours * 3_600_000;
  const last = lastScrub(events);
  if (last && Date.parse(last.time) >= limit) return alerts;
  const oldest = backups.at(-1);
  if (!last && (!oldest || Date.parse(oldest.createdAt) >= limit)) return alerts;
  alerts.push({
    check: 'scrub-age',
    message: last
      ? `the last scrub (verify --all) ran at ${last.time}, more than ${maxAgeHours} h ago; is its cron line running?`
      : `no scrub (verify --all) has run in the ${maxAgeHours} h there have been backups; add its daily cron line`,
  });
  return alerts;
}

/** An archive further behind the database than the limit, or with nothing archived at all. */
export function archiveAlert(archive: NonNullable<HealthReport['archive']>, maxLagSeconds: number): HealthAlert | null {
  const { lagSeconds } = archive;
  if (lagSeconds !== null && lagSeconds <= maxLagSeconds) return null;
  return {
    check: 'archive-lag',
    message:
      lagSeconds !== null
        ? `the WAL archive is ${lagSeconds.toFixed(0)} s behind the database (limit ${maxLagSeconds} s): is migrate-guard archive running?`
        : 'the WAL archive has no segments: is migrate-guard archive running?',
  };
}

/**
 * The newest verified backup of each kind against the one before it, by the size of the data
 * (the manifest's uncompressed bytes): one backup gzipped and the next not is not a change.
 * Restore points are left out.
 */
export function sizeChanges(backups: readonly BackupEntry[], limitPercent: number): HealthAlert[] {
  const alerts: HealthAlert[] = [];
  const byKind = new Map<string, BackupEntry[]>();
  // A restore point's entry is a few hundred bytes naming it: its size says nothing of the data.
  for (const entry of backups.filter((b) => b.verified && !b.manifest?.restorePoint))
    byKind.set(entry.kind, [...(byKind.get(entry.kind) ?? []), entry]);
  const dataBytes = (entry: BackupEntry) => entry.manifest?.bytes ?? entry.bytes;
  for (const [kind, entries] of byKind) {
    const [latest, previous] = entries;
    if (!latest || !previous || dataBytes(previous) === 0) continue;
    const [now, before] = [dataBytes(latest), dataBytes(previous)];
    const change = ((now - before) / before) * 100;
    if (Math.abs(change) > limitPercent) {
      alerts.push({
        check: 'size-change',
        message: `${kind} backup size changed ${change > 0 ? '+' : ''}${change.toFixed(0)}% (${formatBytes(before)} → ${formatBytes(now)}, limit ${limitPercent}%): ${latest.path}`,
      });
    }
  }
  return alerts;
}

/**
 * The last successful drill is older than the limit. A new installation is not alerted before it
 * has had backups for that long: there was nothing to drill with.
 */
export function staleDrill(
  events: readonly BackupEvent[],
  backups: readonly BackupEntry[],
  now: Date,
  maxAgeDays: number,
): HealthAlert | null {
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

/**
 * A job (per kind) whose most recent run failed: it has not succeeded since. Scrubs are left to
 * scrubAlerts: their per-backup verdicts live in the manifests, where a later scrub of another
 * backup of the same kind cannot hide them.
 */
export function failedJobs(events: readonly BackupEvent[]): HealthAlert[] {
  const latest = new Map<string, BackupEvent>();
  for (const event of events) if (event.job !== 'scrub') latest.set(`${event.job} ${event.kind ?? ''}`.trim(), event);
  return [...latest.entries()]
    .filter(([, event]) => event.error !== null || !event.verified)
    .map(([job, event]) => ({
      check: 'failed-job' as const,
      message: `last ${job} failed at ${event.time}: ${event.error ?? 'not verified'}`,
    }));
}
