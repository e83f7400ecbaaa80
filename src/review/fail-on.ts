import type { Finding } from './findings.ts';

/**
 * When a dry run exits 1. `failure` (the default): only when a migration or a check would fail, as
 * the real run would; `error`: also on a finding of an `error` rule; `warning`: also on any
 * finding; `never`: exit 0 whenever the rehearsal ran. Allowed findings never count.
 */
export type FailOn = 'failure' | 'error' | 'warning' | 'never';

export const FAIL_ON: readonly FailOn[] = ['failure', 'error', 'warning', 'never'];

export function failsOn(failOn: FailOn, wouldFail: boolean, findings: readonly Finding[]): boolean {
  if (failOn === 'never') return false;
  if (wouldFail) return true;
  const counted = findings.filter((finding) => finding.allowedBy === null);
  if (failOn === 'warning') return counted.length > 0;
  if (failOn === 'error') return counted.some((finding) => finding.severity === 'error');
  return false;
}
