import { describe, expect, it } from 'vitest';
import { myStatements } from '../../../src/engines/mysql/write-set.ts';
import { WriteSet } from '../../../src/engines/write-set.ts';

function changed(...statements: string[]) {
  const set = new WriteSet(myStatements);
  for (const statement of statements) set.add(statement);
  return set.result();
}

describe("MySQL/MariaDB's changed set", () => {
  it('names the table of a plain write', () => {
    expect(changed('delete from `items` where `id` = ?')).toEqual({ tables: ['items'], rowsChanged: ['items'], unknown: null });
  });

  it('takes a write to a database-qualified table (`app`.`items`) as unknown, never as a read', () => {
    expect(changed('delete from `app`.`items`').unknown).not.toBeNull();
    expect(changed('insert into app.items (id) values (1)').unknown).not.toBeNull();
  });

  it('takes an UPDATE or DELETE of several tables as unknown', () => {
    expect(changed('UPDATE items JOIN owners ON owners.id = items.owner SET owners.name = 1').unknown).not.toBeNull();
    expect(changed('DELETE FROM items USING items JOIN owners ON owners.id = items.owner').unknown).not.toBeNull();
    expect(changed('UPDATE items, owners SET owners.name = 1 WHERE owners.id = items.owner').unknown).not.toBeNull();
  });

  it('counts INSERT … ON DUPLICATE KEY UPDATE as changing existing rows', () => {
    expect(changed('insert into `items` (`id`, `name`) values (1, 2) on duplicate key update `name` = values(`name`)')).toEqual({
      tables: ['items'],
      rowsChanged: ['items'],
      unknown: null,
    });
  });

  it('keeps reads reads', () => {
    expect(
      changed('select * from `knex_migrations` order by `id` asc', 'select * from information_schema.tables where table_schema = ?'),
    ).toEqual({
      tables: [],
      rowsChanged: [],
      unknown: null,
    });
  });
});
