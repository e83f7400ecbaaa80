import type { ChecksConfig } from '../config/schema.ts';
import type { ChangedSet } from '../engines/contract.ts';
import type { EngineLabels } from '../engines/contract.ts';
import type { CheckContext, CheckResult } from './contract.ts';
import { customCheck } from './custom.ts';
import { foreignKeyCheck } from './foreign-keys.ts';
import { smokeCheck } from './smoke.ts';

export interface RunChecksOptions extends CheckContext {
  readonly checks: ChecksConfig;
  readonly onCheck?: (result: CheckResult) => void;
  /** Says which check starts: the structural ones take seconds on a large database. */
  readonly onStart?: (what: string) => void;
}

/**
 * The post-migration checks, in order of cost to the operator: structure first (integrity, foreign
 * keys), then whether the application's queries still run (smoke), then the project's own checks.
 * All of them run even after one fails, so the report shows the whole picture.
 */
export async function runChecks(options: RunChecksOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const record = (result: CheckResult) => {
    results.push(result);
    options.onCheck?.(result);
  };
  const { integrity } = options.checks;
  const start = (what: string) => options.onStart?.(what);
  if (integrity !== 'off') {
    // `whole-file`: the full check of everything, whatever the run wrote.
    const level = integrity === 'whole-file' ? 'full' : integrity;
    const changed = integrity === 'whole-file' ? undefined : options.changed;
    start(describeIntegrity(options.engine.labels, level, changed));
    record({ name: `integrity (${integrity})`, ...(await options.engine.integrity(options.reader, level, changed)) });
  }
  if (options.checks.foreignKeys) {
    start('checking foreign keys');
    record(await foreignKeyCheck(options));
  }
  start('running the smoke queries');
  record(await smokeCheck(options, options.checks.smoke));
  for (const check of options.checks.custom) {
    start(`running check ${check.name}`);
    record(await customCheck(options, check));
  }
  return results;
}

/** What the integrity check is about to do, in the engine's words (SQLite: `quick_check`, `integrity_check`). */
function describeIntegrity(labels: EngineLabels, level: 'full' | 'quick', changed: ChangedSet | undefined): string {
  if (level === 'quick') return `checking integrity: ${labels.quickCheck} of the whole database`;
  if (changed === undefined || changed.unknown !== null) return `checking integrity: ${labels.fullCheck} of the whole database`;
  return `checking integrity: ${labels.quickCheck} of the whole database, ${labels.fullCheck} of ${changed.tables.join(', ') || 'nothing else'}`;
}
