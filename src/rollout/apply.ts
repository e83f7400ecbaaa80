import type { ChangedSet, Engine } from '../engines/contract.ts';
import { SqlStatementError } from '../migrator/sql-file.ts';
import { fullMessageOf, GuardError, messageOf } from '../errors.ts';
import type { RolloutBackup } from './backup.ts';
import type { Plan } from './plan.ts';
import type { MigrationOutcome, RunFailure } from './report.ts';
import { timed, type Run } from './run.ts';

/** One outcome per planned migration (as kysely's MigrationResultSet), and the failure if any. */
export interface ApplyResult {
  readonly outcomes: readonly MigrationOutcome[];
  readonly failure: RunFailure | null;
  /** What the migrations wrote, for the checks to prove (read only when they all passed). */
  readonly written: ChangedSet | null;
}

/**
 * Runs exactly the planned migrations, in the planned order (newest first for down), through the
 * plan's executor. Never throws: a failing migration is a result, and what follows (checks, or
 * the restore) is the runbook's decision.
 */
export async function applyMigrations(run: Run, plan: Plan, backup: Pick<RolloutBackup, 'refuse' | 'proven'>): Promise<ApplyResult> {
  const outcomes = new Map<string, MigrationOutcome>(plan.pending.map((name) => [name, { name, status: 'not-run', durationMs: null }]));
  // Set by umzug's events while a migration runs; an object, so the catch below sees the closures' writes.
  const running: { current: { readonly name: string; readonly started: number } | null } = { current: null };
  const since = (started: number) => Math.round(performance.now() - started);
  const offStarting = plan.umzug.on(run.direction.events.starting, ({ name }) => {
    if (run.signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted by a signal');
    running.current = { name, started: performance.now() };
    run.emit({ type: 'migration-start', name });
  });
  const offFinished = plan.umzug.on(run.direction.events.finished, ({ name }) => {
    const durationMs = running.current ? since(running.current.started) : 0;
    outcomes.set(name, { name, status: run.direction.done, durationMs });
    running.current = null;
    run.emit({ type: 'migration-done', name, direction: run.direction.name, durationMs });
  });
  let failure: RunFailure | null = null;
  const written = plan.handle.watchWrites();
  try {
    await timed(run, 'migrations', async () => {
      for (;;) {
        try {
          return await run.direction.run(plan.umzug, plan.pending);
        } catch (error) {
          const cause = (error as { cause?: unknown }).cause ?? error;
          if (!plan.executor.grouped || run.signal?.aborted || !plan.executor.isLockTimeout(cause)) throw error;
          // A lock not granted in time: the whole group goes back to its start (so no earlier
          // migration's lock is held while waiting) and every planned migration runs again.
          running.current = null;
          await plan.executor.retryGroup(cause);
          for (const name of plan.pending) outcomes.set(name, { name, status: 'not-run', durationMs: null });
        }
      }
    });
  } catch (error) {
    const cause = isLockRefusal(error) ? error : ((error as { cause?: unknown }).cause ?? error);
    if (isLockRefusal(cause) && plan.executor.nothingCommitted) {
      // Rolled back (the group whole, or the one migration's transaction): nothing changed, so
      // the run is refused as any refusal before a change is (exit 1), the way group.ts refuses.
      if (plan.executor.grouped) await plan.executor.rollbackGroup(async () => undefined).catch(() => undefined);
      // A group's backup may still be proving beside it: let it finish (and drop its scratch) first.
      await backup.proven();
      offStarting();
      offFinished();
      return backup.refuse(new GuardError(cause.code, `${cause.message}; nothing was changed`, { cause: cause.cause }));
    }
    const interrupted = run.signal?.aborted === true;
    const failed = running.current;
    failure = interrupted
      ? { migration: failed?.name ?? null, phase: 'interrupted', message: `interrupted by a signal (${messageOf(cause)})` }
      : { migration: failed?.name ?? null, phase: 'migrate', ...migrationError(cause, run.engine) };
    if (failed) {
      outcomes.set(failed.name, { name: failed.name, status: 'failed', durationMs: since(failed.started) });
      run.emit({ type: 'migration-failed', name: failed.name, message: failure.message });
    }
  } finally {
    offStarting();
    offFinished();
  }
  const changed =
    failure === null
      ? await written(run.engine.reader(plan.executor.reads)).catch((error: unknown): ChangedSet => ({
          tables: [],
          rowsChanged: [],
          unknown: `what the run wrote could not be read (${messageOf(error)})`,
        }))
      : null;
  return { outcomes: [...outcomes.values()], failure, written: changed };
}

const isLockRefusal = (error: unknown): error is GuardError => error instanceof GuardError && error.code === 'LOCK_BUDGET_EXHAUSTED';

/**
 * Why a migration failed, all of it (a multi-line message is never cut to its first line): a
 * `.sql` statement's database message, code, line and column; another error's message, with the
 * database's code when the database raised it.
 */
function migrationError(cause: unknown, engine: Pick<Engine, 'statementFailure'>): Omit<RunFailure, 'migration' | 'phase'> {
  // A lock budget spent after earlier migrations committed on their own: a failure (restored), not a refusal.
  if (isLockRefusal(cause)) return { message: cause.message, code: cause.code };
  if (cause instanceof SqlStatementError) {
    return {
      message: cause.message,
      code: cause.code,
      file: cause.file,
      line: cause.line,
      column: cause.column,
      statement: cause.statement,
    };
  }
  const message = fullMessageOf(cause);
  const code = engine.statementFailure(cause, '')?.code;
  return code === undefined ? { message } : { message, code };
}
