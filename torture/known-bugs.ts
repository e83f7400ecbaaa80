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

export const KNOWN_BUGS: readonly KnownBug[] = [
  {
    id: 'proof-counts-app-rows',
    test: 'restore exits 0 while the application writes',
    matches: (v) => /differs from the backup: [^;]*(ledger|journal_entries)/.test(v.detail),
  },
  {
    id: 'restore-gap',
    test: 'restore keeps every row the application committed: in the database or in the pre-restore copy',
    matches: (v) => v.invariant === 'committed rows survive' && /in a pre-restore copy \([1-9]\d* cop/.test(v.detail),
  },
];

/** The known bugs a violating case shows (empty: a new problem). */
export function knownBugsOf(kase: Case): string[] {
  return KNOWN_BUGS.filter((bug) => kase.violations.some((violation) => bug.matches(violation, kase))).map((bug) => bug.id);
}
