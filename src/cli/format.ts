import type { DryRunReport } from '../commands/dry-run.ts';
import type { MigrateReport } from '../commands/migrate.ts';
import type { StatusReport } from '../commands/status.ts';
import { manualRestoreAdvice } from '../recovery.ts';

import { formatSeconds as seconds } from '../units.ts';

/** The human summary of a guarded run (migrate or down); null when the event lines said it all. */
export function formatRun(report: MigrateReport): string | null {
  const verb = report.command === 'migrate' ? 'applied' : 'reverted';
  const changed = report.command === 'migrate' ? report.applied.length : report.reverted.length;
  switch (report.exitCode) {
    case 0:
      return report.pending.length === 0
        ? null
        : `migrate-guard: done: ${changed} migration(s) ${verb} in ${seconds(report.durationMs)}; backup ${report.backup}`;
    case 2:
      return `migrate-guard: FAILED (${report.failed?.phase}${report.failed?.migration ? ` in ${report.failed.migration}` : ''}): ${report.failed?.message}\nmigrate-guard: the database was restored from ${report.backup} and verified; nothing was changed (exit 2)`;
    default:
      return `migrate-guard: CRITICAL: ${report.failed?.phase} failed (${report.failed?.message}) and the automatic restore failed: ${report.restoreError}\nmigrate-guard: restore ${report.backup} by hand before starting the application: ${manualRestoreAdvice(report.database, report.backup ?? '<backup>')} (exit 3)`;
  }
}

/** The dry-run plan: migration by migration, SQL indented, warnings marked. */
export function formatPlan(report: DryRunReport): string {
  const lines: string[] = [];
  if (report.pending.length === 0) return 'migrate-guard: dry run: nothing to do';
  lines.push(`Dry run (${report.command === 'migrate' ? 'apply' : 'revert'}) rehearsed on a copy of ${report.database}:`);
  for (const note of report.notes) lines.push(`  ! NOTE ${note}`);
  for (const entry of report.plan) {
    const timing = entry.durationMs === null ? '' : ` (${entry.durationMs} ms on the copy)`;
    const state = entry.status === 'would-apply' ? 'ok' : entry.status === 'would-fail' ? 'WOULD FAIL' : 'not run';
    lines.push('', `  ${entry.name}  ${state}${timing}`);
    for (const statement of entry.sql) lines.push(...statement.split('\n').map((line) => `      ${line}`));
    for (const warning of entry.warnings) lines.push(`    ! WARNING ${warning}`);
    if (entry.error) lines.push(`    x ERROR ${entry.error}`);
  }
  if (report.checks.length > 0) {
    lines.push('', '  checks on the rehearsed copy:');
    for (const check of report.checks) lines.push(`    ${check.ok ? 'ok    ' : 'FAILED'} ${check.name}: ${check.detail}`);
  }
  const warnings = report.plan.reduce((sum, entry) => sum + entry.warnings.length, 0);
  lines.push(
    '',
    report.ok
      ? `migrate-guard: dry run: all ${report.pending.length} migration(s) and the checks would pass${warnings ? `; ${warnings} warning(s) above` : ''} (copy ${seconds(report.copyMs)}, total ${seconds(report.durationMs)})`
      : 'migrate-guard: dry run: this rollout WOULD FAIL (exit 1); the live database was not touched',
  );
  return lines.join('\n');
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
