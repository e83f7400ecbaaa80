import type { Engine } from '../engines/contract.ts';
import type { MigrationHistory } from './contract.ts';
import { guardTableHistory } from './guard-table.ts';

/**
 * The history of the project's migrations in this database. Today migrate-guard's own table;
 * a knex project's `knex_migrations` joins here, chosen from the knexfile.
 */
export function historyFor(engine: Engine): MigrationHistory {
  return guardTableHistory(engine);
}
