import type { CheckResult } from '../checks/contract.ts';
import type { ExitCode } from '../errors.ts';
import type { HookResult } from '../hooks/run-hook.ts';
import type { LockTimings } from '../migrator/executor.ts';
import type { Recovery } from './recover.ts';

/** `rolled-back`: it ran, then the restore undid it with everything else. */
export type MigrationStatus = 'applied' | 'reverted' | 'failed' | 'not-run' | 'rolled-back';

/** One migration's outcome in this run (as kysely's MigrationResult). */
export interface MigrationOutcome {
  readonly name: string;
  readonly status: MigrationStatus;
  readonly durationMs: number | null;
}

/**
 * Where a run failed. `migrate`, `check`, `interrupted`: after the backup, in this run's report.
 * `refused`, `recovery`: a refusal before anything changed, or an interrupted run that could not be
 * undone, as the CLI reports them when the run threw instead of returning a report.
 */
export interface RunFailure {
  readonly migration: string | null;
  readonly phase: 'migrate' | 'check' | 'commit' | 'interrupted' | 'refused' | 'recovery';
  /** Every line of it: a database's DETAIL, HINT and CONTEXT are part of the reason. */
  readonly message: string;
  /** A migration's error the database raised: its code (PostgreSQL's SQLSTATE, SQLite's result code). */
  readonly code?: string | null;
  /** A `.sql` statement the database refused: the file, and the 1-based line and column the database pointed at in it. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** That statement, whitespace folded, cut to a readable length. */
  readonly statement?: string;
}

/**
 * `migrate failed in 002_fn: <the message's first line>`: the warning that announces the undo.
 * The whole message is in the migration's FAILED line before it and in the report after it.
 */
export function failureHeadline(failure: RunFailure): string {
  return `${failure.phase} failed${failure.migration ? ` in ${failure.migration}` : ''}: ${failure.message.split('\n')[0]}`;
}

/**
 * `copy`: the snapshot; `proof`: checksum and integrity check of the copy (in a group run, side by
 * side with the migrations and checks); `backup`: copy and proof until the backup is in place;
 * `commit` / `rollback`: the group's end; `restore`: the restore path's undo.
 */
export type Phase = 'copy' | 'proof' | 'backup' | 'catchUp' | 'migrations' | 'checks' | 'commit' | 'rollback' | 'restore';

/**
 * Wall time per phase, and what the application felt of the run's locks (`lockHeldMs`,
 * `lockWaitMs`: see LockTimings; both in every report, 0 when the run took no lock).
 */
export type Timings = Partial<Record<Phase, number>> & LockTimings;

export interface MigrateReport {
  readonly command: 'migrate' | 'down';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly database: string;
  /** Migrations applied by this run that are still applied (none after a restore). */
  readonly applied: readonly string[];
  /** Migrations that were pending when the run started (for `down`: those it set out to revert). */
  readonly pending: readonly string[];
  /** `down` only: migrations reverted by this run that stay reverted. */
  readonly reverted: readonly string[];
  readonly backup: string | null;
  /** The database is back to its pre-run state, proven (by a group's rollback, or by a restore of the backup). */
  readonly restored: boolean;
  /** How a failed run was undone: `rollback` (a group: nothing was committed) or `restore` (the backup went back in). */
  readonly undo: 'rollback' | 'restore' | null;
  readonly failed: RunFailure | null;
  readonly checks: readonly CheckResult[];
  readonly migrations: readonly MigrationOutcome[];
  readonly recovered: Recovery | null;
  /**
   * After a restore undo: the database as the failed run left it, kept before the backup went
   * back in (what an application committed meanwhile is there, not lost); null otherwise.
   */
  readonly preRestoreCopy: string | null;
  /** Why the automatic restore failed (exit 3); the original failure stays in `failed`. */
  readonly restoreError: string | null;
  readonly hooks: readonly HookResult[];
  readonly durationMs: number;
  /** Wall time per phase, in ms: where a slow rollout spent its time; and the locks' held and waited time. */
  readonly timings: Readonly<Timings>;
  /**
   * Exit 3: what to run by hand to put the backup back, and which journal file to delete then
   * (the engine's own paths: a server's journal lives in the backup folder).
   */
  readonly manualRestore: string | null;
}
