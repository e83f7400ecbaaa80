import type { Engine } from '../engines/contract.ts';
import { refusalIfDamaged } from '../engines/damage.ts';
import type { AppliedMigration, MigrationHistory } from './contract.ts';

/**
 * The applied migrations, read through a connection that writes nothing and without loading knex
 * or umzug: `status`, and `migrate` when nothing is pending, answer from this alone. A database
 * too damaged to tell is refused, not crashed on.
 */
export async function readHistory(engine: Engine, history: MigrationHistory): Promise<AppliedMigration[]> {
  if ((await engine.probe()) !== 'ready') return [];
  try {
    return await engine.read('untouched', (reader) => history.applied(reader));
  } catch (error) {
    throw refusalIfDamaged(engine, error);
  }
}
