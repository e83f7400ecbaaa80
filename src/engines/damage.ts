import { GuardError } from '../errors.ts';
import type { Engine } from './contract.ts';

/** The engine's "this is not a database / it is corrupt" as a refusal that names the way out. */
export function refusalIfDamaged(engine: Pick<Engine, 'damage' | 'name'>, error: unknown): unknown {
  const code = engine.damage(error);
  if (code === null) return error;
  return new GuardError(
    'PREFLIGHT_FAILED',
    `database ${engine.name} is damaged (${code}); it was left untouched: restore a backup (migrate-guard restore) before migrating`,
    { cause: error },
  );
}
