import { create } from 'xmlbuilder2';
import type { DryRunReport } from '../../commands/dry-run.ts';
import { failsOn } from '../fail-on.ts';
import type { Finding } from '../findings.ts';
import { placeOf } from './text.ts';

const seconds = (ms: number | null) => ((ms ?? 0) / 1000).toFixed(3);
const findingLine = (finding: Finding) =>
  `${finding.allowedBy === null ? finding.severity : `allowed (${finding.allowedBy})`} ${finding.rule}: ${finding.message} (${placeOf(finding)})`;

/**
 * The dry run as JUnit XML for CI test reports: a suite of one testcase per migration and a suite
 * of one per check. A testcase fails for what would fail: the migration or check itself, or (with
 * `--fail-on warning|error`) a finding that counts under that setting; every finding is listed in
 * its migration's output.
 */
export function renderJunit(report: DryRunReport): string {
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele('testsuites', { name: 'migrate-guard dry run' });
  let tests = 0;
  let failures = 0;

  const migrations = root.ele('testsuite', { name: 'migrations' });
  let suiteFailures = 0;
  for (const entry of report.plan) {
    const own = report.findings.filter((finding) => finding.migration === entry.name);
    const file = entry.file;
    const testcase = migrations.ele('testcase', {
      classname: 'migrate-guard.migrations',
      name: entry.name,
      time: seconds(entry.durationMs),
      ...(file ? { file } : {}),
    });
    const failing = own.filter((finding) => failsOn(report.failOn, false, [finding]));
    if (entry.status === 'would-fail') {
      testcase.ele('failure', { message: `would fail: ${entry.error ?? 'failed'}`, type: 'migration' }).txt(entry.error ?? 'failed');
      suiteFailures += 1;
    } else if (failing.length > 0) {
      testcase
        .ele('failure', { message: failing.map((finding) => `${finding.rule}: ${finding.message}`).join('; '), type: failing[0]!.rule })
        .txt(failing.map(findingLine).join('\n'));
      suiteFailures += 1;
    } else if (entry.status === 'not-run') {
      testcase.ele('skipped', { message: 'not run: an earlier migration would fail' });
    }
    const out = [...own.map(findingLine), ...(own.length > 0 && entry.sql.length > 0 ? [''] : []), ...entry.sql.map((sql) => `${sql};`)];
    if (out.length > 0) testcase.ele('system-out').txt(out.join('\n'));
  }
  migrations.att({
    tests: String(report.plan.length),
    failures: String(suiteFailures),
    errors: '0',
    time: seconds(report.timings.migrations),
  });
  tests += report.plan.length;
  failures += suiteFailures;

  const checks = root.ele('testsuite', { name: 'checks' });
  let checkFailures = 0;
  for (const check of report.checks) {
    const testcase = checks.ele('testcase', { classname: 'migrate-guard.checks', name: check.name, time: '0.000' });
    if (!check.ok) {
      testcase.ele('failure', { message: check.detail, type: 'check' }).txt(check.detail);
      checkFailures += 1;
    } else {
      testcase.ele('system-out').txt(check.detail);
    }
  }
  checks.att({ tests: String(report.checks.length), failures: String(checkFailures), errors: '0', time: seconds(report.timings.checks) });
  tests += report.checks.length;
  failures += checkFailures;

  root.att({ tests: String(tests), failures: String(failures), errors: '0', time: seconds(report.durationMs) });
  return `${root.end({ prettyPrint: true })}\n`;
}
