import type { Knex } from 'knex';
import { LockRetries, lockBudgetExhausted, pause, type LockPolicy, type LockRetryEvent, type LockRetrySettings } from './lock-retry.ts';

/**
 * What the application felt of the run's locks, in ms: `lockHeldMs` the time the run held the
 * write lock or any table lock (a group: from its BEGIN granted to its COMMIT or ROLLBACK done; per
 * migration: the sum of each migration transaction's), `lockWaitMs` the time it waited for one
 * (SQLite: BEGIN IMMEDIATE's wait; PostgreSQL: the tries that hit the lock timeout and the pauses
 * after them). A try that hit the timeout counts in both: it held what it had locked before.
 */
export interface LockTimings {
  lockHeldMs?: number;
  lockWaitMs?: number;
}

/** How the executor treats locks: the engine's lock timeout (null: none), its retries, and where the times go. */
export interface ExecutorLocks {
  readonly policy: LockPolicy | null;
  readonly retry: LockRetrySettings;
  /** Told before each pause of a retry (the run logs it). */
  readonly onRetry: (event: LockRetryEvent) => void;
  /** Written as the times are measured (the run's timings, so every report carries them). */
  readonly timings: LockTimings;
}

/**
 * Where each migration, its history row and the post-migration checks run. The apply phase
 * decides per run (see TransactionOwner); nothing else opens a transaction around a migration.
 */
export interface Executor {
  /**
   * Runs one migration's work and its history row: together in one transaction when the migration
   * is transactional (so a kill leaves both or neither), or on the plain connection when it opted
   * out (`config.transaction = false`, e.g. to change `PRAGMA foreign_keys`). Inside a group, in
   * the group's transaction.
   */
  step<T>(transactional: boolean, work: (db: Knex) => Promise<T>): Promise<T>;
  /** Where reads between steps and the checks after them go: they see what the steps wrote. */
  readonly reads: Knex;
}

/** Each migration in its own transaction, as knex's migrator and umzug do. */
export function transactionPerMigration(knex: Knex): Executor {
  return new TransactionOwner(knex);
}

/**
 * The one owner of the transaction boundary for a run. It starts as one transaction per
 * migration; `beginGroup` puts every later migration, history row and check into one transaction
 * (Flyway's `group`), which only `commitGroup` makes visible to anyone else and `rollbackGroup`
 * (or a kill: SQLite undoes an unfinished transaction on the next open) throws away whole.
 */
export class TransactionOwner implements Executor {
  /** The group's transaction: it holds the write lock from the first statement to the last. */
  private outer: Knex.Transaction | null = null;
  /** A savepoint inside it, where the migrations run: a rollback to it keeps the lock. */
  private group: Knex.Transaction | null = null;
  private locks: ExecutorLocks = {
    policy: null,
    retry: { timeoutMs: 0, retries: 0, budgetMs: 0 },
    onRetry: () => undefined,
    timings: {},
  };
  private heldMs = 0;
  private waitedMs = 0;
  /** The group's: when its BEGIN was granted, when its current try began, and its budget. */
  private groupGranted = 0;
  private groupTry = 0;
  private groupRetries: LockRetries | null = null;
  /** Whether the current try of the group has set the lock timeout yet. */
  private groupTimeoutSet = false;
  /** Migrations committed on their own (per migration): after one, a refusal would be a lie. */
  private committedSteps = 0;

  constructor(private readonly knex: Knex) {}

  /** The engine's lock timeout and the run's timings; before the first transaction. */
  configure(locks: ExecutorLocks): void {
    this.locks = locks;
    this.record();
  }

  get reads(): Knex {
    return this.group ?? this.knex;
  }

  get grouped(): boolean {
    return this.group !== null;
  }

  /** Whether no migration committed on its own yet: a run stopped now changed nothing. */
  get nothingCommitted(): boolean {
    return this.committedSteps === 0;
  }

  /** Whether `error` is a lock not granted within the engine's lock timeout (never, without one). */
  isLockTimeout(error: unknown): boolean {
    return this.locks.policy?.isLockTimeout(error) ?? false;
  }

  async step<T>(transactional: boolean, work: (db: Knex) => Promise<T>): Promise<T> {
    if (this.group) {
      // Set at the group's first migration, not at its BEGIN: the reads before it (the facts a
      // rollback must bring back) wait as they always did, and a rollback to the savepoint undoes
      // it, so the rollback's proof does too; each try sets it again.
      if (!this.groupTimeoutSet) await this.locks.policy?.begin(this.group);
      this.groupTimeoutSet = true;
      return work(this.group);
    }
    if (!transactional) {
      // No lock timeout here: a migration that opted out of transactions cannot be tried again
      // (what it did before the timeout stays), so its statements wait as they always did.
      const result = await work(this.knex);
      this.committedSteps += 1;
      return result;
    }
    const { policy } = this.locks;
    const retries = policy ? new LockRetries(this.locks.retry) : null;
    for (;;) {
      const started = performance.now();
      try {
        const result = await this.transaction(work);
        this.committedSteps += 1;
        return result;
      } catch (error) {
        if (!policy || !retries || !policy.isLockTimeout(error)) throw error;
        const attemptMs = performance.now() - started;
        const pauseMs = retries.next(attemptMs);
        this.waited(attemptMs);
        const blockers = await policy.blockers(started);
        if (pauseMs === null) throw lockBudgetExhausted(retries, blockers, error);
        this.locks.onRetry({
          blockers,
          pauseMs,
          nextTry: retries.triesSoFar,
          spentMs: retries.spentMs,
          settings: retries.settings,
          scope: 'migration',
        });
        await pause(pauseMs);
        this.waited(pauseMs);
      }
    }
  }

  /**
   * One migration's transaction: the time to BEGIN (SQLite's BEGIN IMMEDIATE waits for the write
   * lock) is waited, the rest until COMMIT or ROLLBACK is done is held. knex calls the handler
   * once BEGIN is through.
   */
  private async transaction<T>(work: (db: Knex) => Promise<T>): Promise<T> {
    const asked = performance.now();
    let granted: number | null = null;
    try {
      return await this.knex.transaction(async (trx) => {
        granted = performance.now();
        this.waited(granted - asked);
        this.locks.policy?.arm();
        await this.locks.policy?.begin(trx);
        return work(trx);
      });
    } finally {
      if (granted !== null) this.held(performance.now() - granted);
      await this.locks.policy?.disarm();
    }
  }

  async beginGroup(): Promise<void> {
    if (this.group) throw new Error('a group transaction is already open');
    const asked = performance.now();
    this.outer = await this.knex.transaction();
    this.groupGranted = performance.now();
    this.waited(this.groupGranted - asked);
    const { policy } = this.locks;
    policy?.arm();
    this.groupTimeoutSet = false;
    this.groupRetries = policy ? new LockRetries(this.locks.retry) : null;
    this.groupTry = performance.now();
    this.group = await this.outer.transaction();
  }

  /**
   * A statement of the group was refused a lock within the timeout: rolls the group back to its
   * savepoint (PostgreSQL lets go of every lock taken since), pauses holding nothing of the
   * migrations', and opens the savepoint again for the migrations to run once more. Tries or
   * budget spent: rolls the whole transaction back and throws LOCK_BUDGET_EXHAUSTED (nothing was
   * changed).
   */
  async retryGroup(cause: unknown): Promise<void> {
    const { outer, group } = this;
    const { policy } = this.locks;
    const retries = this.groupRetries;
    if (!outer || !group || !policy || !retries) throw cause;
    group.executionPromise.catch(() => undefined);
    await group.rollback();
    const attemptMs = performance.now() - this.groupTry;
    const pauseMs = retries.next(attemptMs);
    this.waited(attemptMs);
    const blockers = await policy.blockers(this.groupTry);
    if (pauseMs === null) {
      this.take();
      outer.executionPromise.catch(() => undefined);
      try {
        await outer.rollback();
      } finally {
        await this.groupEnded();
      }
      throw lockBudgetExhausted(retries, blockers, cause);
    }
    this.locks.onRetry({
      blockers,
      pauseMs,
      nextTry: retries.triesSoFar,
      spentMs: retries.spentMs,
      settings: retries.settings,
      scope: 'group',
    });
    // Outside the group's time: during the pause the transaction holds no lock.
    const paused = performance.now();
    await pause(pauseMs);
    this.waited(pauseMs);
    this.groupGranted += performance.now() - paused;
    this.groupTry = performance.now();
    this.groupTimeoutSet = false;
    this.group = await outer.transaction();
  }

  /**
   * knex's `commit()` resolves even when COMMIT fails (only `executionPromise` rejects), so both
   * are awaited: a COMMIT that failed is a failed run, never a success. SQLite keeps a transaction
   * whose COMMIT was refused (SQLITE_BUSY) open on the connection: it is rolled back here, so the
   * connection does not go on reading the uncommitted work.
   */
  async commitGroup(): Promise<void> {
    const { outer, group } = this.take();
    try {
      await group.commit();
      await group.executionPromise;
      await outer.commit();
      await outer.executionPromise;
    } catch (error) {
      outer.executionPromise.catch(() => undefined);
      if (!outer.isCompleted()) await outer.rollback().catch(() => undefined);
      // The pool holds one SQLite connection: this ROLLBACK reaches the one COMMIT left open.
      await this.knex.raw('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await this.groupEnded();
    }
  }

  /**
   * Rolls the migrations back to the savepoint taken when the group began, then runs `prove` in
   * the same transaction, still holding the write lock: what it reads is the database as it was,
   * with nothing the application committed since mixed in. Then ends the transaction.
   */
  async rollbackGroup<T>(prove: (reads: Knex) => Promise<T>): Promise<T> {
    const { outer, group } = this.take();
    // knex rejects the transactions' promises on rollback; the run already knows why it rolls back.
    group.executionPromise.catch(() => undefined);
    outer.executionPromise.catch(() => undefined);
    try {
      await group.rollback();
      return await prove(outer);
    } finally {
      try {
        await outer.rollback();
      } finally {
        await this.groupEnded();
      }
    }
  }

  private take(): { outer: Knex.Transaction; group: Knex.Transaction } {
    const { outer, group } = this;
    if (!outer || !group) throw new Error('no group transaction is open');
    this.outer = null;
    this.group = null;
    return { outer, group };
  }

  /** The group's COMMIT or ROLLBACK is done: it held its locks until now. */
  private async groupEnded(): Promise<void> {
    this.held(performance.now() - this.groupGranted);
    this.groupRetries = null;
    await this.locks.policy?.disarm();
  }

  private held(ms: number): void {
    this.heldMs += ms;
    this.record();
  }

  private waited(ms: number): void {
    this.waitedMs += ms;
    this.record();
  }

  private record(): void {
    this.locks.timings.lockHeldMs = Math.round(this.heldMs);
    this.locks.timings.lockWaitMs = Math.round(this.waitedMs);
  }
}
