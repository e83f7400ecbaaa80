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
    this.group = await this.knex.transaction();
  }

  async commitGroup(): Promise<void> {
    const group = this.take();
    await group.commit();
  }

  async rollbackGroup(): Promise<void> {
    const group = this.take();
    // knex rejects the transaction's promise on rollback; the run already knows why it rolls back.
    group.executionPromise.catch(() => undefined);
    await group.rollback();
  }

  private take(): Knex.Transaction {
    const group = this.group;
    if (!group) throw new Error('no group transaction is open');
    this.group = null;
    return group;
  }
}
