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
    id: 'hot-journal',
    test: 'a group run SIGKILLed mid-transaction on a rollback-journal database: the next migrate recovers',
    matches: (v) => v.detail.includes('SQLITE_READONLY'),
  },
  {
    id: 'commit-ignored',
    test: 'a group run whose COMMIT fails does not report success',
    matches: (v, kase) => v.invariant.startsWith('content is') && v.detail.includes('before any other run (exit 0)') && /^(migrate|down)/.test(kase.command),
  },
  {
    id: 'busy-group',
    test: 'a group run succeeds while the application commits beside it',
    matches: (v) => v.detail.includes('SQLITE_BUSY'),
  },
  {
    id: 'proof-counts-app-rows',
    test: 'a failed group run rolled back while the application commits exits 2, not 3 / restore exits 0 while the application writes',
    matches: (v) => /(differs from before the run|differs from the backup): [^;]*(ledger|journal_entries)/.test(v.detail),
  },
  {
    id: 'restore-gap',
    test: 'restore keeps every row the application committed: in the database or in the pre-restore copy',
    matches: (v) => v.invariant === 'committed rows survive' && /in a pre-restore copy \([1-9]\d* cop/.test(v.detail),
  },
  {
    id: 'holder-unnamed',
    test: 'two migrates at once: the refused one names the holder',
    matches: (v) => v.invariant === 'a refused migrate names the holder' && v.detail.includes('another process'),
  },
  {
    id: 'listed-before-manifest',
    test: 'a backup killed at any point leaves nothing that backups lists as unverified',
    matches: (v) => v.invariant === 'no partial or unverified file is listed',
  },
  {
    id: 'prune-removes-finishing-backup',
    test: 'prune during a backup never removes the backup being written',
    matches: (v) => v.invariant === 'a backup reported as written is there' && v.detail.includes('removed it'),
  },
  {
    id: 'full-disk-exit-3',
    test: 'restore that runs out of disk leaves the database as it was and exits 1, not 3',
    matches: (v) => v.invariant === 'exit 3 only when the database was changed',
  },
];

/** The known bugs a violating case shows (empty: a new problem). */
export function knownBugsOf(kase: Case): string[] {
  return KNOWN_BUGS.filter((bug) => kase.violations.some((violation) => bug.matches(violation, kase))).map((bug) => bug.id);
}
