import { GuardError } from '../errors.ts';

/**
 * "Now", for the commands that reason about age. MIGRATE_GUARD_NOW (ISO 8601) pins it, so a test
 * or an operator can ask "what would health / prune say at this time".
 */
export function clock(env: NodeJS.ProcessEnv): Date {
  const pinned = env.MIGRATE_GUARD_NOW;
  if (!pinned) return new Date();
  const at = new Date(pinned);
  if (Number.isNaN(at.getTime())) throw new GuardError('USAGE', `MIGRATE_GUARD_NOW=${pinned} is not an ISO 8601 time`);
  return at;
}
