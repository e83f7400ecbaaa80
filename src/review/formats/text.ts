import type { DryRunReport } from '../../commands/dry-run.ts';
import { hangingIndent } from '../../cli/output.ts';
import { formatSeconds as seconds } from '../../units.ts';
import type { Finding } from '../findings.ts';

/** Where a finding is, as `file:line` (the migration's name when its file is unknown). */
export function placeOf(finding: Finding): string {
  if (finding.file === null) return finding.migration;
  return finding.line === null ? finding.file : `${finding.file}:${finding.line}`;
}

/** The dry-run plan for a terminal: migration by migration, SQL indented, findings marked with their rule. */
export function formatPlan(report: DryRunReport): string {
  const lines: string[] = [];
  if (report.pending.length === 0) return 'migrate-guard: dry run: nothing to do';
  const source = report.fromBackup === null ? `a copy of ${report.database}` : `the backup ${report.fromBackup}`;
  lines.push(`Dry run (${report.command === 'migrate' ? 'apply' : 'revert'}) rehearsed on ${source}:`);
  for (const note of report.notes) lines.push(`  ! NOTE ${note}`);
  for (const entry of report.plan) {
    const timing = entry.durationMs === null ? '' : ` (${entry.durationMs} ms on the copy)`;
    const state = entry.status === 'would-apply' ? 'ok' : entry.status === 'would-fail' ? 'WOULD FAIL' : 'not run';
    lines.push('', `  ${entry.name}  ${state}${timing}`);
    for (const statement of entry.sql) lines.push(...statement.split('\n').map((line) => `      ${line}`));
    for (const finding of report.findings.filter((candidate) => candidate.migration === entry.name)) {
      lines.push(
        finding.allowedBy === null
          ? `    ! ${finding.severity.toUpperCase()} ${finding.rule}: ${finding.message} (${placeOf(finding)})`
          : `    - allowed by the ${finding.allowedBy} ${finding.rule}: ${finding.message}`,
      );
    }
    if (entry.error) lines.push(`    x ERROR ${hangingIndent(entry.error, '            ')}`);
  }
  if (report.checks.length > 0) {
    lines.push('', '  checks on the rehearsed copy:');
    for (const check of report.checks) lines.push(`    ${check.ok ? 'ok    ' : 'FAILED'} ${check.name}: ${check.detail}`);
  }
  const counted = report.findings.filter((finding) => finding.allowedBy === null).length;
  const verdict = report.ok
    ? `migrate-guard: dry run: all ${report.pending.length} migration(s) and the checks would pass${counted ? `; ${counted} finding(s) above` : ''} (copy ${seconds(report.copyMs)}, total ${seconds(report.durationMs)}; the real run would hold its lock about ${(report.timings.lockHeldMs / 1000).toFixed(2)}s)`
    : `migrate-guard: dry run: this rollout WOULD FAIL (exit ${report.exitCode}); the live database was not touched`;
  lines.push('', verdict);
  if (report.ok && report.exitCode !== 0) lines.push(`migrate-guard: --fail-on ${report.failOn}: ${counted} finding(s) count (exit 1)`);
  return lines.join('\n');
}
