import type { Knex } from 'knex';
import { GuardError } from '../errors.ts';

/** A session that held a lock a migration waited for, as the database described it then. */
export interface Blocker {
  readonly pid: number;
  readonly applicationName: string;
  /** Its current (or, when idle in its transaction, last) statement, folded to one line. */
  readonly query: string;
  readonly state: string | null;
  /** How long its transaction had been open; null when it was in none. */
  readonly transactionMs: number | null;
}

/**
 * How an engine keeps a migration from queueing behind a lock for long (PostgreSQL: a short
 * `lock_timeout` per transaction, see engines/postgres/lock-timeout.ts). SQLite has none: its one
 * write lock is waited for by `BEGIN IMMEDIATE` and the busy timeout.
 */
export interface LockPolicy {
  /** The lock timeout every transaction of the executor runs with, in ms. */
  readonly timeoutMs: number;
  /** Runs first in every transaction the executor opens: sets the timeout for that transaction only. */
  begin(trx: Knex): Promise<void>;
  /** Whether `error` (or what it wraps) is a lock not granted within the timeout. */
  isLockTimeout(error: unknown): boolean;
  /** While a transaction is open: watches, from a connection of its own, who blocks the migrations' session. */
  arm(): void;
  /** The transaction ended: stops watching (and closes the watching connection). */
  disarm(): Promise<void>;
  /**
   * Who blocked the session in the attempt that began at `since` (performance.now()): the sessions
   * seen blocking it; seen none, the transactions open since before the attempt began.
   */
  blockers(since: number): Promise<readonly Blocker[]>;
}

export interface LockRetrySettings {
  readonly timeoutMs: number;
  /** Tries after the first. */
  readonly retries: number;
  /** The most time spent on failed tries and the pauses between them. */
  readonly budgetMs: number;
}

/** One retry, for the run's log: who blocked, how long the pause is, how much of the budget is spent. */
export interface LockRetryEvent {
  readonly blockers: readonly Blocker[];
  readonly pauseMs: number;
  /** The try about to start (2 for the first retry). */
  readonly nextTry: number;
  readonly spentMs: number;
  readonly settings: LockRetrySettings;
  /** `group`: the whole group went back to its start; `migration`: that migration's transaction. */
  readonly scope: 'group' | 'migration';
}

/** Pauses double from 250 ms up to 2 s; each is drawn between half of that and all of it (equal jitter). */
const FIRST_PAUSE_MS = 250;
const LONGEST_PAUSE_MS = 2000;

/**
 * The budget of one migration's (or one group's) tries. Jitter keeps two runs (or a run and an
 * application's own retries) from coming back in step; pauses never run past the budget.
 */
export class LockRetries {
  private tries = 1;
  private spent = 0;

  constructor(
    readonly settings: LockRetrySettings,
    private readonly random: () => number = Math.random,
  ) {}

  /** Milliseconds spent on failed tries and pauses so far. */
  get spentMs(): number {
    return this.spent;
  }

  get triesSoFar(): number {
    return this.tries;
  }

  /** After a failed try that took `attemptMs`: the pause before the next one, or null when tries or budget are spent. */
  next(attemptMs: number): number | null {
    this.spent += attemptMs;
    const left = this.settings.budgetMs - this.spent;
    if (this.tries > this.settings.retries || left <= 0) return null;
    const ceiling = Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** (this.tries - 1));
    const pause = Math.min(left, Math.round(ceiling / 2 + (this.random() * ceiling) / 2));
    this.spent += pause;
    this.tries += 1;
    return pause;
  }
}

/** `pid 4242 (report-app), transaction open 7.9s, idle in transaction: SELECT count(*) FROM accounts` */
export function describeBlocker(blocker: Blocker): string {
  const open = blocker.transactionMs === null ? 'no transaction open' : `transaction open ${(blocker.transactionMs / 1000).toFixed(1)}s`;
  const query = blocker.query.replace(/\s+/g, ' ').trim();
  const cut = query.length > 200 ? `${query.slice(0, 199)}…` : query;
  return `pid ${blocker.pid} (application_name ${blocker.applicationName ? `'${blocker.applicationName}'` : 'empty'}), ${open}${blocker.state ? `, ${blocker.state}` : ''}: ${cut || '(no query)'}`;
}

function blockedBy(blockers: readonly Blocker[]): string {
  return blockers.length === 0
    ? 'the session holding it was gone before it could be named'
    : `blocked by ${blockers.map(describeBlocker).join('; ')}`;
}

/** A retry announced: `lock not granted within 0.5s, blocked by …; rolled back the group, trying again in 0.4s (try 2 of 41, 0.7s of the 60s budget spent)` */
export function retryMessage(event: LockRetryEvent): string {
  const { settings } = event;
  const what =
    event.scope === 'group'
      ? 'rolled back to the start of the group (no lock held while waiting)'
      : "rolled back the migration's transaction";
  return `lock not granted within ${seconds(settings.timeoutMs)} (lock_timeout), ${blockedBy(event.blockers)}; ${what}, trying again in ${seconds(event.pauseMs)} (try ${event.nextTry} of ${settings.retries + 1}, ${seconds(event.spentMs)} of the ${seconds(settings.budgetMs)} budget spent)`;
}

/**
 * The run's refusal once the tries or the budget are spent: the database was rolled back, so
 * nothing changed (exit 1). It names the session in the way, so an operator can end or wait for it.
 */
export function lockBudgetExhausted(retries: LockRetries, blockers: readonly Blocker[], cause: unknown): GuardError {
  const { settings } = retries;
  return new GuardError(
    'LOCK_BUDGET_EXHAUSTED',
    `a lock the migrations need was not granted in ${retries.triesSoFar} tries of ${seconds(settings.timeoutMs)} over ${seconds(retries.spentMs)} (lock budget ${seconds(settings.budgetMs)}, ${settings.retries} retries), ${blockedBy(blockers)}; rolled back: end that transaction or run again when it is over (or raise locks.budget / MIGRATE_GUARD_LOCK_BUDGET)`,
    { cause },
  );
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))}s`;
}

/** Waits `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
