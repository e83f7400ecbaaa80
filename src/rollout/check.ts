import type { CheckResult } from '../checks/contract.ts';
import { runChecks } from '../checks/run.ts';
import type { ChangedSet } from '../engines/contract.ts';
import { messageOf } from '../errors.ts';
import type { Plan } from './plan.ts';
import type { RunFailure } from './report.ts';
import type { RunJournal } from './run-journal.ts';
import { timed, type Run } from './run.ts';

export interface CheckOutcome {
  readonly checks: readonly CheckResult[];
  readonly failure: RunFailure | null;
}

/**
 * The post-migration checks, through the executor the migrations wrote through. A check that
 * cannot run at all is a failed check; a signal that came during the checks fails the run too.
 */
export async function checkDatabase(run: Run, plan: Plan, journal: RunJournal, changed: ChangedSet | null): Promise<CheckOutcome> {
  await journal.note('checking');
  run.emit({ type: 'step', message: 'running post-migration checks' });
  const db = plan.executor.reads;
  const checks = await timed(run, 'checks', () =>
    runChecks({
      engine: run.engine,
      reader: run.engine.reader(db),
      knex: db,
      ...(changed ? { changed } : {}),
      checks: run.config.checks,
      onCheck: (result) => run.emit({ type: 'check', result }),
      onStart: (label) => run.emit({ type: 'working', label }),
    }).catch((error: unknown): CheckResult[] => [{ name: 'checks', ok: false, detail: `the checks could not run: ${messageOf(error)}` }]),
  );
  const failed = checks.filter((check) => !check.ok);
  if (failed.length > 0) {
    return { checks, failure: { migration: null, phase: 'check', message: failed.map((check) => `${check.name}: ${check.detail}`).join('; ') } };
  }
  if (run.signal?.aborted) return { checks, failure: { migration: null, phase: 'interrupted', message: 'interrupted by a signal' } };
  return { checks, failure: null };
}
