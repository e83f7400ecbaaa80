import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine } from '../engines/contract.ts';
import { GuardError } from '../errors.ts';

/**
 * `backups.method: 'restore-point'` needs an engine with restore points in a server's WAL archive
 * (PostgreSQL): on any other it is refused in one line before anything is opened, never quietly
 * turned into a copy the operator did not ask for.
 */
export function requireBackupMethod(engine: Pick<Engine, 'name' | 'kind' | 'restorePoints'>, config: ResolvedConfig): void {
  if (config.backups.method !== 'restore-point' || engine.restorePoints !== undefined) return;
  throw new GuardError(
    'USAGE',
    `backups.method 'restore-point' needs PostgreSQL with WAL archiving, and ${engine.name} is a ${engine.kind} database: set backups.method to 'pg_dump' (or unset MIGRATE_GUARD_BACKUP_METHOD)`,
  );
}
