import { describe, expect, it } from 'vitest';
import { destructiveWarnings } from '../../src/dry-run/warnings.ts';
import type { SchemaShape } from '../../src/engines/contract.ts';

const shape = (tables: Record<string, { columns: string[]; rows: number; notNull?: string[] }>): SchemaShape =>
  new Map(
    Object.entries(tables).map(([name, t]) => [
      name,
      { rows: t.rows, columns: t.columns.map((c) => ({ name: c, notNull: t.notNull?.includes(c) ?? false, hasDefault: false })) },
    ]),
  );
const same = shape({ acc: { columns: ['id', 'note'], rows: 10 } });
const sqlWarnings = (sql: string) => destructiveWarnings(same, same, [sql], { largeTableRows: 100 });

describe('destructiveWarnings', () => {
  it('flags DELETE and UPDATE without WHERE, also after WITH or with OR REPLACE', () => {
    expect(sqlWarnings('DELETE FROM acc')).toEqual(['DELETE without WHERE on acc: DELETE FROM acc']);
    expect(sqlWarnings("update `acc` set note = 'WHERE'")[0]).toMatch(/^UPDATE without WHERE on acc/);
    expect(sqlWarnings('UPDATE OR REPLACE acc SET note = 1')[0]).toMatch(/^UPDATE without WHERE on acc/);
    expect(sqlWarnings('WITH x AS (SELECT 1) DELETE FROM acc')[0]).toMatch(/^DELETE without WHERE on acc/);
    expect(sqlWarnings('DELETE FROM acc WHERE id = 1')).toEqual([]);
    expect(sqlWarnings("SELECT 'DELETE FROM acc'")).toEqual([]);
  });

  it('flags dropped tables and columns, shrunk counts, new NOT NULL columns and large rebuilds', () => {
    const before = shape({ acc: { columns: ['id', 'note'], rows: 500 }, old: { columns: ['id'], rows: 3 } });
    const after = shape({ acc: { columns: ['id', 'flag'], rows: 400, notNull: ['flag'] } });
    const rebuild = ['CREATE TABLE `_knex_temp_alter12` (id)', 'ALTER TABLE "_knex_temp_alter12" RENAME TO "acc"'];
    expect(destructiveWarnings(before, after, rebuild, { largeTableRows: 100 })).toEqual([
      'drops column acc.note',
      'adds NOT NULL column acc.flag without a default',
      'row count of acc shrank: 500 → 400',
      'rebuilds table acc (500 rows): every row is copied while the write lock is held',
      'drops table old (3 rows)',
    ]);
  });
});
