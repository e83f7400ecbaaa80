import type { Knex } from 'knex';

/**
 * The one owner of the transaction boundary: where each migration, its history row and the
 * post-migration checks run. The apply phase picks one per run; nothing else opens a transaction
 * around a migration.
 */
export interface Executor {
  /**
   * Runs one migration's work and its history row: together in one transaction when the migration
   * is transactional (so a kill leaves both or neither), or on the plain connection when it opted
   * out (`config.transaction = false`, e.g. to change `PRAGMA foreign_keys`).
   */
  step<T>(transactional: boolean, work: (db: Knex) => Promise<T>): Promise<T>;
  /** Where reads between steps and the checks after them go: they see what the steps wrote. */
  readonly reads: Knex;
}

/** Each migration in its own transaction, as knex's migrator and umzug do. */
export function transactionPerMigration(knex: Knex): Executor {
  return {
    step: (transactional, work) => (transactional ? knex.transaction((trx) => work(trx)) : work(knex)),
    reads: knex,
  };
}
