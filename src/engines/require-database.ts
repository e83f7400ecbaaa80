import { GuardError } from '../errors.ts';
import type { Engine } from './contract.ts';

/** The jobs that read an existing database refuse, untouched, a missing or foreign one. */
export async function requireDatabase(engine: Pick<Engine, 'probe' | 'name'>): Promise<void> {
  if ((await engine.probe()) === 'missing') {
    throw new GuardError('DATABASE_MISSING', `database ${engine.name} does not exist; check --db / DATABASE_URL`);
  }
}
