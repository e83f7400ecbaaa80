import type { Log, ReportingDescriptor, Result } from 'sarif';
import type { DryRunReport } from '../../commands/dry-run.ts';
import { RULES } from '../rules.ts';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

/**
 * The review as a SARIF 2.1.0 log for code scanning: tool `migrate-guard` with every rule (its why
 * and safer way as help), one result per finding located in the migration's file (relative to the
 * working directory, the repository root in CI: `%SRCROOT%`). An allowed finding carries a
 * suppression, so a viewer shows it as dismissed, not as new. What would fail (a migration, a
 * check) is a tool execution notification: it is not a rule's finding.
 */
export function renderSarif(report: DryRunReport, version: string): string {
  const rules: ReportingDescriptor[] = RULES.map((rule) => ({
    id: rule.id,
    name: rule.id.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase()).replace(/^\w/, (letter) => letter.toUpperCase()),
    shortDescription: { text: rule.title },
    fullDescription: { text: rule.why },
    help: { text: `${rule.why}. Safer: ${rule.safer}.`, markdown: `**Why:** ${rule.why}.\n\n**Safer:** ${rule.safer}.` },
    defaultConfiguration: { level: rule.severity },
    properties: { engines: rule.engines, tags: ['migration', 'database'] },
  }));
  const index = new Map(RULES.map((rule, position) => [rule.id, position]));
  const results: Result[] = report.findings.map((finding) => ({
    ruleId: finding.rule,
    ruleIndex: index.get(finding.rule)!,
    level: finding.severity,
    message: { text: `${finding.migration}: ${finding.message}` },
    locations: [
      finding.file === null
        ? { logicalLocations: [{ name: finding.migration, kind: 'module' }] }
        : {
            physicalLocation: {
              artifactLocation: { uri: encodeURI(finding.file), uriBaseId: '%SRCROOT%' },
              region: { startLine: finding.line ?? 1 },
            },
          },
    ],
    ...(finding.allowedBy === null
      ? {}
      : {
          suppressions: [
            {
              kind: finding.allowedBy === 'migration' ? 'inSource' : 'external',
              justification:
                finding.allowedBy === 'migration' ? 'allowed by the migration' : 'allowed by the project config (review.allow)',
            },
          ],
        }),
    properties: {
      migration: finding.migration,
      table: finding.table,
      column: finding.column,
      rows: finding.rows,
      durationMs: finding.durationMs,
      statement: finding.statement,
    },
  }));
  const failures = [
    ...report.plan
      .filter((entry) => entry.status === 'would-fail')
      .map((entry) => `migration ${entry.name} would fail: ${entry.error ?? 'failed'}`),
    ...report.checks.filter((check) => !check.ok).map((check) => `check ${check.name} would fail: ${check.detail}`),
  ];
  const log: Log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'migrate-guard', version, informationUri: 'https://www.npmjs.com/package/migrate-guard', rules } },
        originalUriBaseIds: { '%SRCROOT%': { description: { text: 'the repository root (the working directory of the dry run)' } } },
        invocations: [
          {
            executionSuccessful: report.ok,
            exitCode: report.exitCode,
            toolExecutionNotifications: failures.map((text) => ({ level: 'error', message: { text } })),
          },
        ],
        results,
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
