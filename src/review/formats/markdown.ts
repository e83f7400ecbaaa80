import type { DryRunReport } from '../../commands/dry-run.ts';
import type { Finding } from '../findings.ts';

/** A table cell: one line, pipes escaped, so a message never breaks the table. */
const cell = (text: string) => text.replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();
/** Inline code that holds any text: a longer run of backticks than the text has. */
const code = (text: string) => {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${longest > 0 ? ' ' : ''}${text}${longest > 0 ? ' ' : ''}${fence}`;
};
const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);
const where = (finding: Finding) =>
  finding.file === null ? '-' : code(finding.line === null ? finding.file : `${finding.file}:${finding.line}`);

const STATUS = { 'would-apply': '✅ would apply', 'would-fail': '❌ would fail', 'not-run': '⏭️ not run' } as const;
const status = (report: DryRunReport, entry: DryRunReport['plan'][number]) =>
  entry.status === 'would-apply' && report.command === 'down' ? '✅ would revert' : STATUS[entry.status];

/**
 * The dry run as a pull-request comment or a job summary: a verdict, a table of the migrations
 * (status, time on the copy, findings), then per migration a table of its findings with their rule
 * ids and place, and its SQL folded in `<details>`.
 */
export function renderMarkdown(report: DryRunReport): string {
  const counted = report.findings.filter((finding) => finding.allowedBy === null);
  const lines: string[] = [];
  const verdict = !report.ok
    ? '❌ this rollout would fail'
    : counted.length > 0
      ? `⚠️ would pass, with ${counted.length} finding(s)`
      : '✅ would pass';
  lines.push(`## migrate-guard dry run: ${verdict}`, '');
  if (report.pending.length === 0) {
    lines.push('Nothing to do: no pending migration.', '');
    return lines.join('\n');
  }
  const source = report.fromBackup === null ? 'a copy of the database' : `the backup ${code(report.fromBackup.split(/[\\/]/).at(-1)!)}`;
  lines.push(
    `${report.pending.length} migration(s) rehearsed (${report.command === 'migrate' ? 'applied' : 'reverted'}) on ${source}, then the checks; copy ${ms(report.copyMs)}, total ${ms(report.durationMs)}, locks held ${ms(report.timings.lockHeldMs)}. The live database was not touched.`,
    '',
  );
  for (const note of report.notes) lines.push(`> **Note:** ${cell(note)}`, '');
  if (report.failed)
    lines.push(
      `> **Would fail** (${report.failed.phase}${report.failed.migration ? ` in ${code(report.failed.migration)}` : ''}): ${cell(report.failed.message)}`,
      '',
    );

  lines.push('| migration | status | time on the copy | locks held | findings |', '| --- | --- | --- | --- | --- |');
  for (const entry of report.plan) {
    const own = counted.filter((finding) => finding.migration === entry.name);
    const rules = [...new Set(own.map((finding) => code(finding.rule)))].join(' ');
    lines.push(
      `| ${code(entry.name)} | ${status(report, entry)} | ${ms(entry.durationMs)} | ${ms(entry.lockHeldMs)} | ${own.length === 0 ? '-' : `${own.length}: ${rules}`} |`,
    );
  }
  lines.push('');

  for (const entry of report.plan) {
    const own = report.findings.filter((finding) => finding.migration === entry.name);
    lines.push(`### ${code(entry.name)}`, '');
    if (entry.error) lines.push(`❌ ${cell(entry.error)}`, '');
    if (own.length > 0) {
      lines.push('| rule | severity | finding | where |', '| --- | --- | --- | --- |');
      for (const finding of own) {
        const severity = finding.allowedBy === null ? finding.severity : `allowed (${finding.allowedBy})`;
        lines.push(`| ${code(finding.rule)} | ${severity} | ${cell(finding.message)} | ${where(finding)} |`);
      }
      lines.push('');
    }
    if (entry.sql.length > 0) {
      const fence = '`'.repeat(
        Math.max(3, ...entry.sql.map((sql) => Math.max(0, ...(sql.match(/`+/g) ?? []).map((run) => run.length + 1)))),
      );
      lines.push(
        `<details><summary>SQL (${entry.sql.length} statement(s))</summary>`,
        '',
        `${fence}sql`,
        ...entry.sql.map((sql) => `${sql};`),
        fence,
        '',
        '</details>',
        '',
      );
    }
  }

  if (report.checks.length > 0) {
    lines.push('### Checks on the rehearsed copy', '', '| check | result | detail |', '| --- | --- | --- |');
    for (const check of report.checks) lines.push(`| ${cell(check.name)} | ${check.ok ? '✅ ok' : '❌ failed'} | ${cell(check.detail)} |`);
    lines.push('');
  }
  return lines.join('\n');
}
