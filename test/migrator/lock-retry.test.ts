import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.ts';
import { parseDuration, withLockEnv } from '../../src/config/schema.ts';
import { describeBlocker, LockRetries } from '../../src/migrator/lock-retry.ts';
import { thrownBy } from '../helpers/errors.ts';

describe('LockRetries: jittered pauses within the tries and the budget', () => {
  const settings = { timeoutMs: 500, retries: 40, budgetMs: 60_000 };

  it('doubles the pause from 250 ms up to 2 s, each between half of it and all of it', () => {
    const low = new LockRetries(settings, () => 0);
    expect([1, 2, 3, 4, 5, 6].map(() => low.next(500))).toEqual([125, 250, 500, 1000, 1000, 1000]);
    const high = new LockRetries(settings, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => high.next(500))).toEqual([250, 500, 1000, 2000, 2000, 2000]);
  });

  it('counts failed tries and pauses against the budget, and stops when it is spent', () => {
    const retries = new LockRetries({ ...settings, budgetMs: 2000 }, () => 1);
    expect(retries.next(500)).toBe(250); // spent 750
    expect(retries.next(500)).toBe(500); // spent 1750
    expect(retries.next(500)).toBeNull(); // spent 2250: over
    expect(retries.spentMs).toBe(2250);
    expect(retries.triesSoFar).toBe(3);
  });

  it('never pauses past the budget', () => {
    const retries = new LockRetries({ ...settings, budgetMs: 900 }, () => 1);
    expect(retries.next(800)).toBe(100);
  });

  it('stops after the number of retries, whatever is left of the budget', () => {
    const retries = new LockRetries({ ...settings, retries: 2 }, () => 0);
    expect(retries.next(1)).not.toBeNull();
    expect(retries.next(1)).not.toBeNull();
    expect(retries.next(1)).toBeNull();
  });

  it('names a blocker by pid, application_name, the age of its transaction and its query, on one line', () => {
    expect(
      describeBlocker({
        pid: 42,
        applicationName: 'report',
        query: 'SELECT\n  count(*)\nFROM accounts',
        state: 'idle in transaction',
        transactionMs: 7940,
      }),
    ).toBe("pid 42 (application_name 'report'), transaction open 7.9s, idle in transaction: SELECT count(*) FROM accounts");
  });
});

describe('locks: config and environment', () => {
  it('reads durations as 500ms, 2s, 1m or a number of milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('soon')).toBeNull();
    expect(resolveConfig({ locks: { timeout: '2s', budget: 90_000 } }).locks).toEqual({
      timeout: 2000,
      retries: 40,
      budget: 90_000,
      longTransaction: 30_000,
    });
  });

  it('refuses a duration it cannot read, naming the key', () => {
    const error = thrownBy(() => resolveConfig({ locks: { timeout: 'soon' } }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('locks.timeout');
  });

  it('MIGRATE_GUARD_LOCK_TIMEOUT, _RETRIES and _BUDGET override the config; a bad value is one line (USAGE)', () => {
    const config = resolveConfig({ locks: { timeout: '1s' } });
    expect(withLockEnv(config, {}).locks).toEqual(config.locks);
    expect(
      withLockEnv(config, { MIGRATE_GUARD_LOCK_TIMEOUT: '200ms', MIGRATE_GUARD_LOCK_RETRIES: '3', MIGRATE_GUARD_LOCK_BUDGET: '10s' }).locks,
    ).toEqual({ timeout: 200, retries: 3, budget: 10_000, longTransaction: 30_000 });
    const error = thrownBy(() => withLockEnv(config, { MIGRATE_GUARD_LOCK_RETRIES: 'many' }));
    expect(error.code).toBe('USAGE');
    expect(error.message).toBe('MIGRATE_GUARD_LOCK_RETRIES=many: expected a whole number of retries, 0 or more');
  });
});
