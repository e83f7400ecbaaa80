import type { AppliedReader, Engine } from '../engines/contract.ts';
import { refusalIfDamaged } from '../engines/damage.ts';
import { GuardError } from '../errors.ts';
import type { MigrationHistory } from './contract.ts';
import { guardTableHistory, MIGRATIONS_TABLE } from './guard-table.ts';
import { knexTableHistory } from './knex-table.ts';

export const KNEX_DEFAULT_TABLE = 'knex_migrations';

export interface HistorySettings {
  /** The knexfile's `migrations.tableName`, when it names one. */
  readonly knexTable?: string | null;
}

/**
 * The history of the project's migrations in this database: knex's table when the knexfile names
 * one or `knex_migrations` exists (an existing knex project keeps its history), else
 * migrate-guard's own. Both holding a history is refused: which one is right is the operator's call.
 */
export async function resolveHistory(engine: Engine, settings: HistorySettings = {}): Promise<MigrationHistory> {
  if (settings.knexTable) return knexTableHistory(engine, settings.knexTable);
  let tables: string[] = [];
  try {
    if ((await engine.probe()) === 'ready') tables = await engine.read('untouched', (reader) => engine.listTables(reader));
  } catch (error) {
    throw refusalIfDamaged(engine, error);
  }
  if (!tables.includes(KNEX_DEFAULT_TABLE)) return guardTableHistory(engine);
  if (tables.includes(MIGRATIONS_TABLE)) {
    throw new GuardError(
      'USAGE',
      `${engine.name} holds two migration histories, ${MIGRATIONS_TABLE} and ${KNEX_DEFAULT_TABLE}; set migrations.tableName in the knexfile to the one to use`,
    );
  }
  return knexTableHistory(engine, KNEX_DEFAULT_TABLE);
}

/**
 * The applied migrations a manifest records and a restore proves, read from whatever database the
 * reader is on: migrate-guard's table, else knex's default one, else none. One rule for every
 * backup and every proof, whatever history a run used, so the two always compare like with like.
 */
export function recordedMigrations(engine: Pick<Engine, 'listTables' | 'quote'>): AppliedReader {
  return async (reader) => {
    const tables = await engine.listTables(reader);
    const history = tables.includes(MIGRATIONS_TABLE)
      ? guardTableHistory(engine)
      : tables.includes(KNEX_DEFAULT_TABLE)
        ? knexTableHistory(engine, KNEX_DEFAULT_TABLE)
        : null;
    return history ? (await history.applied(reader)).map((migration) => migration.name) : [];
  };
}
