import type { Knex } from 'knex';

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

  constructor(private readonly knex: Knex) {}

  get reads(): Knex {
    return this.group ?? this.knex;
  }

  get grouped(): boolean {
    return this.group !== null;
  }

  step<T>(transactional: boolean, work: (db: Knex) => Promise<T>): Promise<T> {
    if (this.group) return work(this.group);
    return transactional ? this.knex.transaction((trx) => work(trx)) : work(this.knex);
  }

  async beginGroup(): Promise<void> {
    if (this.group) throw new Error('a group transaction is already open');
    this.outer = await this.knex.transaction();
    this.group = await this.outer.transaction();
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
      await outer.rollback();
    }
  }

  private take(): { outer: Knex.Transaction; group: Knex.Transaction } {
    const { outer, group } = this;
    if (!outer || !group) throw new Error('no group transaction is open');
    this.outer = null;
    this.group = null;
    return { outer, group };
  }
}
