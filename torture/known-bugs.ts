/**
 * Bugs the torture has found and that are not fixed yet, each with its regression test in
 * test/torture/findings.test.ts (`it.fails`). A case whose violations include one of these is
 * counted as explained by it; `--allow-known` (CI) then exits 0 when every violating case is
 * explained. Fix a bug: flip its test to `it` and delete its entry here.
 */
import type { Case, Violation } from './case.ts';

export interface KnownBug {
  readonly id: string;
  /** The `it.fails` test that reproduces it. */
  readonly test: string;
  matches(violation: Violation, kase: Case): boolean;
}

export const KNOWN_BUGS: readonly KnownBug[] = [];

/** The known bugs a violating case shows (empty: a new problem). */
export function knownBugsOf(kase: Case): string[] {
  return KNOWN_BUGS.filter((bug) => kase.violations.some((violation) => bug.matches(violation, kase))).map((bug) => bug.id);
}
