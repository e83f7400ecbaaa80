import type { AppliedReader, Engine } from '../engines/contract.ts';
import { refusalIfDamaged } from '../engines/damage.ts';
import { GuardError } from '../errors.ts';
import type { MigrationHistory } from './contract.ts';
import { guardTableHistory, MIGRATIONS_TABLE } from './guard-table.ts';
import { KNEX_DEFAULT_TABLE, knexTableHistory } from './knex-table.ts';

export interface HistorySettings {
  /** knex's table when the knexfile configures migrations (see MigrationsSettings). */
  readonly knexTable?: string | null;
}

/**
 * The history of the project's migrations in this database. The one the database already has
 * wins (an existing knex project keeps `knex_migrations`; a project already on migrate-guard keeps
 * `migrate_guard_migrations`); a database with neither gets knex's when the knexfile configures
 * migrations, ours otherwise. Both holding a history is refused: which is right is the operator's call.
 */
export async function resolveHistory(engine: Engine, settings: HistorySettings = {}): Promise<MigrationHistory> {
  const knexTable = settings.knexTable ?? KNEX_DEFAULT_TABLE;
  let tables: string[] = [];
  try {
    if ((await engine.probe()) === 'ready') tables = await engine.read('untouched', (reader) => engine.listTables(reader));
  } catch (error) {
    throw refusalIfDamaged(engine, error);
  }
  const ours = tables.includes(MIGRATIONS_TABLE);
  const knex = tables.includes(knexTable);
  if (ours && knex) {
    throw new GuardError(
      'USAGE',
      `${engine.name} holds two migration histories, ${MIGRATIONS_TABLE} and ${knexTable}; keep the one that is right and drop the other`,
    );
  }
  if (knex || (!ours && settings.knexTable)) return knexTableHistory(engine, knexTable);
  return guardTableHistory(engine);
}

/** umzug's SequelizeStorage table (its default name), one `name` per applied migration. */
export const SEQUELIZE_META = 'SequelizeMeta';

/**
 * The applied migrations a manifest records and a restore proves, read from whatever database the
 * reader is on: migrate-guard's table, else knex's default one, else umzug's SequelizeStorage
 * table (a project Umzug's history, when it keeps it in the database), else none. One rule for
 * every backup and every proof, whatever history a run used, so the two always compare like with like.
 */
export function recordedMigrations(engine: Pick<Engine, 'listTables' | 'quote'>): AppliedReader {
  return async (reader) => {
    const tables = await engine.listTables(reader);
    const history = tables.includes(MIGRATIONS_TABLE)
      ? guardTableHistory(engine)
      : tables.includes(KNEX_DEFAULT_TABLE)
        ? knexTableHistory(engine, KNEX_DEFAULT_TABLE)
        : null;
    if (history) return (await history.applied(reader)).map((migration) => migration.name);
    if (!tables.includes(SEQUELIZE_META)) return [];
    const rows = await reader.all<{ name: string }>(`SELECT name FROM ${engine.quote(SEQUELIZE_META)} ORDER BY name`);
    return rows.map((row) => row.name);
  };
}
