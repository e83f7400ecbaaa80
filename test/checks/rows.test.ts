import { describe, expect, it } from 'vitest';
import { compareRows, type RowsComparison } from '../../src/checks/rows.ts';

/** Two tables, `child` lost two rows, and the run removed them itself. */
const base: RowsComparison = {
  before: { parent: 2, child: 3, notes: 5 },
  after: { parent: 2, child: 1 },
  existing: ['parent', 'child', 'notes'],
  removedByRun: { child: 2 },
  unsplitReason: 'another connection committed',
  foreignKeysOn: false,
  allowedBy: () => null,
  warnTables: [],
};

describe('compareRows', () => {
  it('fails on a table with fewer rows the run removed, naming before, after and the likely cause', () => {
    const { result, warnings } = compareRows(base);
    expect(result.ok).toBe(false);
    expect(result.name).toBe('rows');
    expect(result.detail).toContain('child: 3 rows before the run, 1 after (2 lost)');
    expect(result.detail).toContain('likely cause: a cascade (ON DELETE CASCADE)');
    expect(result.detail).toContain("exports.review = { allow: ['rows-shrunk'] }");
    expect(warnings).toEqual([]);
  });

  it('names foreign keys turned on as the likely cause, and warns that every table was compared', () => {
    const { result, warnings } = compareRows({ ...base, foreignKeysOn: true });
    expect(result.detail).toContain('turned foreign keys on and rebuilt (dropped) a table these point at');
    expect(warnings[0]).toContain('turned foreign keys on');
  });

  it('lets a declared loss through, and says which migration declared it', () => {
    const { result } = compareRows({ ...base, allowedBy: (table) => (table === 'child' ? '002_cleanup' : null) });
    expect(result).toEqual({
      name: 'rows',
      ok: true,
      detail: 'no table lost rows (2 of 3 tables compared); fewer rows as declared: child 3 → 1 (declared by 002_cleanup)',
    });
  });

  it('reports, without failing, a loss the config lowers to a warning or one it cannot split from the application', () => {
    const lowered = compareRows({ ...base, warnTables: ['child'] });
    expect(lowered.result.ok).toBe(true);
    expect(lowered.warnings).toEqual(['rows: child: 3 rows before the run, 1 after (2 lost); checks.rows.warn lowers child to a warning']);

    const unsplit = compareRows({ ...base, removedByRun: { child: null } });
    expect(unsplit.result.ok).toBe(true);
    expect(unsplit.warnings[0]).toContain('not failed: another connection committed, so these deletes may be its own');
  });

  it("tells the run's share from the application's: only the application's is not failed", () => {
    const theirs = compareRows({ ...base, removedByRun: { child: 0 } });
    expect(theirs.result.ok).toBe(true);
    expect(theirs.warnings[0]).toBe(
      'rows: child: 3 rows before the run, 1 after (2 lost, 0 by the run, 2 by another connection); not failed: another connection (the application) deleted them',
    );

    const both = compareRows({ ...base, removedByRun: { child: 1 } });
    expect(both.result.ok).toBe(false);
    expect(both.result.detail).toContain('child: 3 rows before the run, 1 after (2 lost, 1 by the run, 1 by another connection)');
  });

  it('accounts for tables the run dropped or renamed instead of counting them lost', () => {
    const { result } = compareRows({ ...base, after: { parent: 2, child: 3 }, existing: ['parent', 'child'] });
    expect(result).toEqual({
      name: 'rows',
      ok: true,
      detail: 'no table lost rows (2 of 3 tables compared); dropped or renamed by the run: notes',
    });
  });
});
