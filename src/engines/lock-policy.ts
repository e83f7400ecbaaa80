import type { Knex } from 'knex';
import type { Blocker, LockPolicy } from '../migrator/lock-retry.ts';
import type { EngineKind, Reader } from './contract.ts';

/**
 * The engine's lock timeout for the migrations' connection: PostgreSQL's `lock_timeout`; none on
 * SQLite (its one write lock is waited for by BEGIN IMMEDIATE and the busy timeout), and none
 * when `timeoutMs` is 0 (the config turned it off). Loaded on first use, like the engines.
 */
export async function lockPolicyFor(kind: EngineKind, knex: Knex, timeoutMs: number): Promise<LockPolicy | null> {
  if (kind !== 'postgres' || timeoutMs <= 0) return null;
  const { pgLockPolicy } = await import('./postgres/lock-timeout.ts');
  return pgLockPolicy(knex, timeoutMs);
}

/**
 * Transactions of other sessions open longer than `olderThanMs` (preflight warns: a migration that
 * needs one of their tables waits for them). SQLite has no such view of its readers: none.
 */
export async function longTransactions(kind: EngineKind, reader: Reader, olderThanMs: number): Promise<readonly Blocker[]> {
  if (kind !== 'postgres' || olderThanMs <= 0) return [];
  const { longTransactions: onPostgres } = await import('./postgres/lock-timeout.ts');
  return onPostgres(reader, olderThanMs);
}
