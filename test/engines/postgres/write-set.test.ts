import { describe, expect, it } from 'vitest';
import { pgStatements } from '../../../src/engines/postgres/write-set.ts';
import { WriteSet } from '../../../src/engines/write-set.ts';

function changed(...statements: string[]) {
  const set = new WriteSet(pgStatements);
  for (const statement of statements) set.add(statement);
  return set.result();
}

describe("PostgreSQL's changed set", () => {
  it('names the table of a plain write, as the shared grammar does', () => {
    expect(changed('delete from "items" where "id" = $1')).toEqual({ tables: ['items'], rowsChanged: ['items'], unknown: null });
  });

  it('takes a write to a schema-qualified table (public.items) as unknown, never as a read of another database', () => {
    for (const statement of [
      'delete from "public"."items"',
      'update public.items set name = 1',
      'insert into "public"."items" ("id") values ($1)',
      'drop table "public"."items"',
      'alter table public.items drop column name',
      'create table public.items (id int)',
    ]) {
      expect(changed(statement).unknown, statement).not.toBeNull();
    }
  });

  it('takes a data-modifying common table expression as unknown', () => {
    expect(changed('WITH gone AS (DELETE FROM items RETURNING *) SELECT count(*) FROM gone').unknown).not.toBeNull();
    expect(changed('/* c */ with moved as (update items set a = 1 returning id) select * from moved').unknown).not.toBeNull();
  });

  it('keeps reads reads: knex history reads, information_schema lookups, a read-only CTE', () => {
    expect(
      changed(
        'select * from "knex_migrations" order by "id" asc',
        'select * from information_schema.tables where table_name = $1 and table_schema = current_schema()',
        'with t as (select 1 as updated_at) select * from t',
        'BEGIN',
        'COMMIT',
      ),
    ).toEqual({ tables: [], rowsChanged: [], unknown: null });
  });
});
