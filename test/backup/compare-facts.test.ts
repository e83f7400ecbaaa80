import { describe, expect, it } from 'vitest';
import { compareFacts, compareRestored, type ComparedFacts } from '../../src/backup/compare-facts.ts';

const backup: ComparedFacts = {
  schemaHash: 'a1',
  tables: { accounts: 3, trades: 10, empty: 0 },
  appliedMigrations: ['001_init', '002_trades'],
};

describe('compareFacts', () => {
  it('finds nothing when schema and row counts match, whatever the key order', () => {
    expect(compareFacts(backup, { schemaHash: 'a1', tables: { empty: 0, trades: 10, accounts: 3 } })).toEqual([]);
  });

  it('says when the schema differs', () => {
    expect(compareFacts(backup, { ...backup, schemaHash: 'b2' })).toEqual(['schema differs']);
  });

  it('names each table whose row count differs, in name order', () => {
    expect(compareFacts(backup, { schemaHash: 'a1', tables: { trades: 9, accounts: 4, empty: 0 } })).toEqual([
      'accounts: 3 rows expected, 4 found',
      'trades: 10 rows expected, 9 found',
    ]);
  });

  it('names a missing table and an extra one, even an empty one', () => {
    expect(compareFacts(backup, { schemaHash: 'a1', tables: { accounts: 3, trades: 10, extra: 0 } })).toEqual([
      'empty: 0 rows expected, missing found',
      'extra: missing rows expected, 0 found',
    ]);
  });

  it('reports schema and rows together', () => {
    expect(compareFacts(backup, { schemaHash: 'zz', tables: {} })).toEqual([
      'schema differs',
      'accounts: 3 rows expected, missing found',
      'empty: 0 rows expected, missing found',
      'trades: 10 rows expected, missing found',
    ]);
  });

  it('ignores applied migrations (compareRestored checks those)', () => {
    expect(compareFacts(backup, { ...backup, appliedMigrations: [] } as ComparedFacts)).toEqual([]);
  });
});

describe('compareRestored', () => {
  it('finds nothing when everything matches', () => {
    expect(compareRestored(backup, { ...backup, tables: { ...backup.tables }, appliedMigrations: [...backup.appliedMigrations] })).toEqual(
      [],
    );
  });

  it('says when the applied migrations differ: one more, one fewer, another order', () => {
    const differ = ['applied migrations differ from the backup'];
    expect(compareRestored(backup, { ...backup, appliedMigrations: [...backup.appliedMigrations, '003_more'] })).toEqual(differ);
    expect(compareRestored(backup, { ...backup, appliedMigrations: ['001_init'] })).toEqual(differ);
    expect(compareRestored(backup, { ...backup, appliedMigrations: ['002_trades', '001_init'] })).toEqual(differ);
    expect(compareRestored({ ...backup, appliedMigrations: [] }, backup)).toEqual(differ);
  });

  it('lists migration differences after schema and row differences', () => {
    expect(compareRestored(backup, { schemaHash: 'x', tables: { ...backup.tables, accounts: 0 }, appliedMigrations: [] })).toEqual([
      'schema differs',
      'accounts: 3 rows expected, 0 found',
      'applied migrations differ from the backup',
    ]);
  });
});
