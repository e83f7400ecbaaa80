import { GuardError } from '../../src/errors.ts';

/** The GuardError `work` throws; fails the test when it returns or throws anything else. */
export function thrownBy(work: () => unknown): GuardError {
  try {
    work();
  } catch (error) {
    if (error instanceof GuardError) return error;
    throw new Error(`expected a GuardError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a GuardError, nothing was thrown');
}

/** The GuardError `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejectionOf(promise: Promise<unknown>): Promise<GuardError> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (error instanceof GuardError) return error;
    throw new Error(`expected a GuardError, got ${String(error)}`, { cause: error });
  }
  throw new Error(`expected a GuardError, the promise resolved to ${JSON.stringify(outcome)}`);
}
