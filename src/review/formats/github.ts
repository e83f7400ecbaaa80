import type { DryRunReport } from '../../commands/dry-run.ts';

/** A workflow command's message: `%`, CR and LF escaped as the runner reads them. */
const data = (text: string) => text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
/** A workflow command's property value: also `:` and `,`. */
const property = (text: string) => data(text).replaceAll(':', '%3A').replaceAll(',', '%2C');

/**
 * The review as GitHub Actions workflow commands: `::warning file=…,line=…,title=<rule>::…` for
 * each finding that counts (they show on the pull request's changed files), `::error` for what
 * would fail. Allowed findings are not annotated.
 */
export function renderGithub(report: DryRunReport): string {
  const lines: string[] = [];
  for (const finding of report.findings.filter((candidate) => candidate.allowedBy === null)) {
    const where =
      finding.file === null ? [] : [`file=${property(finding.file)}`, ...(finding.line === null ? [] : [`line=${finding.line}`])];
    lines.push(
      `::warning ${[...where, `title=${property(`migrate-guard ${finding.rule}`)}`].join(',')}::${data(`${finding.migration}: ${finding.message}`)}`,
    );
  }
  for (const entry of report.plan.filter((candidate) => candidate.status === 'would-fail')) {
    const where = entry.file === null ? '' : `file=${property(entry.file)},`;
    lines.push(
      `::error ${where}title=${property('migrate-guard: migration would fail')}::${data(`${entry.name}: ${entry.error ?? 'failed'}`)}`,
    );
  }
  for (const check of report.checks.filter((candidate) => !candidate.ok)) {
    lines.push(`::error title=${property('migrate-guard: check would fail')}::${data(`${check.name}: ${check.detail}`)}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
