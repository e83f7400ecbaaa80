import type { CheckResult } from '../checks/contract.ts';
import { runChecks } from '../checks/run.ts';
import type { ChangedSet } from '../engines/contract.ts';
import { messageOf } from '../errors.ts';
import type { Plan } from './plan.ts';
import type { RunFailure } from './report.ts';
import type { RunJournal } from './run-journal.ts';
import type { RowsWatch } from './rows.ts';
import { timed, type Run } from './run.ts';

export interface CheckOutcome {
  readonly checks: readonly CheckResult[];
  readonly failure: RunFailure | null;
}

/**
 * The post-migration checks, through the executor the migrations wrote through. A check that
 * cannot run at all is a failed check; a signal that came during the checks fails the run too.
 */
export async function checkDatabase(
  run: Run,
  plan: Plan,
  journal: RunJournal,
  changed: ChangedSet | null,
  rows: { readonly watch: RowsWatch; readonly ran: readonly string[] } | null = null,
): Promise<CheckOutcome> {
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
    })
      .catch((error: unknown): CheckResult[] => [{ name: 'checks', ok: false, detail: `the checks could not run: ${messageOf(error)}` }])
      .then(async (results) => (rows ? [...results, await rowsCheck(run, rows, changed)] : results)),
  );
  const failed = checks.filter((check) => !check.ok);
  if (failed.length > 0) {
    return {
      checks,
      failure: { migration: null, phase: 'check', message: failed.map((check) => `${check.name}: ${check.detail}`).join('; ') },
    };
  }
  if (run.signal?.aborted) return { checks, failure: { migration: null, phase: 'interrupted', message: 'interrupted by a signal' } };
  return { checks, failure: null };
}

/** The rows check: a table with fewer rows than when the run began fails it, unless declared. */
async function rowsCheck(
  run: Run,
  rows: { readonly watch: RowsWatch; readonly ran: readonly string[] },
  changed: ChangedSet | null,
): Promise<CheckResult> {
  run.emit({ type: 'working', label: "comparing row counts with the run's start" });
  const verdict = await rows.watch.check(changed, rows.ran).catch((error: unknown) => ({
    result: { name: 'rows', ok: false, detail: `the row counts could not be compared: ${messageOf(error)}` },
    warnings: [],
  }));
  for (const message of verdict.warnings) run.emit({ type: 'warning', message });
  run.emit({ type: 'check', result: verdict.result });
  return verdict.result;
}
