import type { MigrateReport } from '../commands/migrate.ts';
import type { StatusReport } from '../commands/status.ts';
import type { BaselineReport } from '../commands/baseline.ts';
import type { BackupReport } from '../commands/backup.ts';
import type { BackupsReport } from '../commands/backups.ts';
import type { VerifyReport } from '../commands/verify.ts';
import type { ScrubReport } from '../commands/scrub.ts';
import type { HealthReport } from '../commands/health.ts';
import type { PruneReport } from '../commands/prune.ts';
import type { RestoreReport } from '../commands/restore.ts';
import type { RestoreTableReport } from '../commands/restore-table.ts';
import type { DrillReport } from '../commands/drill.ts';
import { proofLabels } from '../engines/registry.ts';
import { formatBytes } from '../units.ts';
import { hangingIndent } from './output.ts';

import { formatSeconds as seconds } from '../units.ts';

/** The human summary of a guarded run (migrate or down); null when the event lines said it all. */
export function formatRun(report: MigrateReport): string | null {
  const verb = report.command === 'migrate' ? 'applied' : 'reverted';
  const changed = report.command === 'migrate' ? report.applied.length : report.reverted.length;
  switch (report.exitCode) {
    case 0:
      return report.pending.length === 0
        ? null
        : `migrate-guard: done: ${changed} migration(s) ${verb} in ${seconds(report.durationMs)} (${whereTimeWent(report.timings)}); ${lockTimes(report.timings)}; backup ${report.backup}`;
    case 2: {
      const undone =
        report.undo === 'rollback'
          ? 'the run was rolled back (nothing was committed) and the database verified as it was'
          : `the database was restored from ${report.backup} and verified`;
      return `migrate-guard: FAILED (${report.failed?.phase}${report.failed?.migration ? ` in ${report.failed.migration}` : ''}): ${hangingIndent(report.failed?.message ?? '', '    ')}\nmigrate-guard: ${undone}; nothing was changed; ${lockTimes(report.timings)} (exit 2)`;
    }
    default:
      return `migrate-guard: CRITICAL: ${report.failed?.phase} failed (${hangingIndent(report.failed?.message ?? '', '    ')}) and the automatic ${report.undo ?? 'restore'} failed: ${report.restoreError}
migrate-guard: restore ${report.backup} by hand before starting the application: ${report.manualRestore ?? `stop the application and put ${report.backup ?? 'the backup'} back with the database's own tools`}; ${lockTimes(report.timings)} (exit 3)`;
  }
}

/**
 * `lock held 0.12s, waited 0s`: what the application felt of the run's locks (the write lock or
 * any table lock held; the time spent waiting for one), to the hundredth of a second.
 */
export function lockTimes(timings: MigrateReport['timings']): string {
  const secondsOf = (ms: number | undefined) => (ms ? `${(ms / 1000).toFixed(2)}s` : '0s');
  return `lock held ${secondsOf(timings.lockHeldMs)}, waited ${secondsOf(timings.lockWaitMs)}`;
}

/**
 * Where a run's time went, in the order it was spent: `copy 4.1s; backup proof 14.2s; catch-up
 * 0.1s; migrations 0.1s; checks 2.0s; commit 0.0s`. The proof runs before any lock is taken; a
 * group's catch-up, migrations, checks and commit are the time it held the write lock.
 */
export function whereTimeWent(timings: MigrateReport['timings']): string {
  const part = (label: string, ms: number | undefined) => (ms === undefined ? null : `${label} ${seconds(ms)}`);
  return [
    part('copy', timings.copy),
    part('backup proof', timings.proof),
    part('catch-up', timings.catchUp),
    part('migrations', timings.migrations),
    part('checks', timings.checks),
    part('commit', timings.commit),
    part('rollback', timings.rollback),
    part('restore', timings.restore),
  ]
    .filter(Boolean)
    .join('; ');
}

export function formatStatus(report: StatusReport): string {
  const lines = [`Database ${report.database}`];
  lines.push(`Applied (${report.applied.length}):`);
  for (const migration of report.applied) {
    const flag = migration.file === 'changed' ? '  ! file changed since it ran' : migration.file === 'missing' ? '  ! file missing' : '';
    const took = migration.durationMs === null ? '' : ` (${migration.durationMs} ms)`;
    lines.push(`  ${migration.name}  ${migration.appliedAt}${took}${flag}`);
  }
  lines.push(`Pending (${report.pending.length}):`);
  for (const name of report.pending) lines.push(`  ${name}`);
  return lines.join('\n');
}

export function formatBackup(report: BackupReport): string {
  const { backup } = report;
  const size = backup.compressed
    ? `${formatBytes(backup.bytes)}, ${formatBytes(backup.compressedBytes ?? 0)} gzipped`
    : formatBytes(backup.bytes);
  return `migrate-guard: verified ${backup.kind} backup ${backup.path} (${size}, sha256 ${backup.sha256.slice(0, 12)}…) in ${seconds(report.durationMs)}`;
}

export function formatBackups(report: BackupsReport): string {
  const others =
    report.otherDatabases > 0 ? `\nmigrate-guard: ${report.otherDatabases} backup(s) of other databases in this folder are not listed` : '';
  if (report.backups.length === 0) return `migrate-guard: no backups of ${report.database}${others}`;
  const rows = report.backups.map(
    (b) =>
      [
        b.createdAt,
        b.kind.padEnd(11),
        formatBytes(b.bytes).padStart(10),
        b.compressed ? 'gz' : '  ',
        b.verified ? 'verified  ' : 'UNVERIFIED',
        (b.sha256 ?? '-').slice(0, 12).padEnd(12),
        b.path,
      ].join('  ') + (b.scrubError ? `\n    failed its scrub at ${b.scrubbedAt}: ${b.scrubError}` : ''),
  );
  return (
    [
      `backups of ${report.database}:`,
      'created                   kind              size      verified    sha256        path',
      ...rows,
    ].join('\n') + others
  );
}

export function formatVerify(report: VerifyReport): string {
  const lines = report.checks.map((check) => `  ${check.ok ? 'ok    ' : 'FAILED'} ${check.name}: ${check.detail}`);
  lines.push(
    `  tables: ${
      Object.entries(report.tables)
        .map(([name, rows]) => `${name} ${rows}`)
        .join(', ') || 'none'
    }`,
  );
  lines.push(
    report.ok ? `migrate-guard: ${report.backup} is a good backup` : `migrate-guard: ${report.backup} FAILED verification (exit 4)`,
  );
  return lines.join('\n');
}

export function formatScrub(report: ScrubReport): string {
  const lines = report.backups.map((entry) => {
    const state = entry.result === 'ok' ? 'ok    ' : entry.result === 'failed' ? 'FAILED' : 'skip  ';
    return `  ${state} ${entry.path}${entry.error ? `: ${entry.error}` : ''}`;
  });
  const checked = report.backups.filter((entry) => entry.result !== 'skipped').length;
  const what = report.deep
    ? `fully verified (checksums, ${proofLabels()}, schema, row counts)`
    : 're-read against their manifest checksums';
  lines.push(
    report.ok
      ? `migrate-guard: scrub: ${checked} backup(s) ${what}; all match`
      : `migrate-guard: scrub: ${report.failed.length} of ${checked} backup(s) FAILED and no longer count as verified (exit 4): ${report.failed.join(', ')}`,
  );
  return lines.join('\n');
}

export function formatHealth(report: HealthReport): string {
  const newest = report.newestVerified
    ? `newest verified backup: ${report.newestVerified.kind}, ${report.newestVerified.ageHours} h old (${report.newestVerified.path})`
    : 'no verified backup';
  const lines = [`migrate-guard: ${newest}; ${formatBytes(report.freeBytes)} free for backups`];
  for (const alert of report.alerts) lines.push(`  ALERT ${alert.check}: ${alert.message}`);
  if (report.prometheus) lines.push(`migrate-guard: metrics written to ${report.prometheus}`);
  lines.push(report.ok ? 'migrate-guard: healthy' : `migrate-guard: ${report.alerts.length} alert(s) (exit 4)`);
  return lines.join('\n');
}

export function formatPrune(report: PruneReport): string {
  const lines = report.decisions
    .filter((decision) => decision.action === 'remove')
    .map((decision) => `  ${report.dryRun ? 'would remove' : 'removed'} ${decision.file}: ${decision.reason}`);
  lines.push(
    `migrate-guard: ${report.dryRun ? 'dry run: would remove' : 'removed'} ${report.removed.length} backup(s), kept ${report.kept.length}`,
  );
  return lines.join('\n');
}

const counts = (tables: Readonly<Record<string, number>>) =>
  Object.entries(tables)
    .map(([name, rows]) => `${name} ${rows}`)
    .join(', ') || 'none';

export function formatRestore(report: RestoreReport): string {
  return [
    `  integrity ${report.proof.integrity}; foreign keys ok; smoke queries ok; ${report.proof.appliedMigrations.length} migrations applied`,
    `  rows: ${counts(report.proof.tables)}`,
    `  not soft-deleted: ${counts(report.proof.liveRows)}`,
    `  source: ${report.source === 'archive' ? `WAL archive (Litestream), restored to ${report.recoveryPoint}` : `backup${report.recoveryPoint ? ` taken ${report.recoveryPoint}` : ''}`}`,
    `migrate-guard: restored ${report.source === 'archive' ? `the WAL archive at ${report.recoveryPoint}` : report.backup} into ${report.database} in ${seconds(report.durationMs)} (measured recovery time)${report.preRestoreCopy ? `; the previous database is kept as ${report.preRestoreCopy}` : ''}`,
  ].join('\n');
}

export function formatRestoreTable(report: RestoreTableReport): string {
  if (report.mode === 'export') return `migrate-guard: wrote ${report.rows} rows of ${report.table} to ${report.out}`;
  if (!report.ok) {
    return `${report.violations.map((v) => `  ${v}`).join('\n')}\nmigrate-guard: restoring ${report.table} would break ${report.violations.length} foreign key(s); rolled back, nothing changed (--force to apply anyway)`;
  }
  return `migrate-guard: replaced the rows of ${report.table} with the backup's ${report.rows} rows (backup first: ${report.preRestoreBackup})`;
}

export function formatDrill(report: DrillReport): string {
  const verdict = report.restoreMs <= report.objectiveMs ? 'within' : 'OVER';
  return report.ok
    ? `migrate-guard: drill passed: ${report.backup} restored and verified in ${seconds(report.restoreMs)} (${verdict} the ${report.objectiveMs / 60_000}-minute objective)`
    : `migrate-guard: drill FAILED for ${report.backup}: ${report.error} (exit 4)`;
}

export function formatBaseline(report: BaselineReport): string {
  return `migrate-guard: recorded ${report.baselined.length} migration(s) as applied without running them (through ${report.baselined.at(-1)}); their ${report.tables.length} table(s) are in the database; backup first: ${report.backup}`;
}
