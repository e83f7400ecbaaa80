import { describe, expect, it } from 'vitest';
import type { SchemaShape } from '../../src/engines/contract.ts';
import { bareName, detect, lockHeldMs, type TimedStatement } from '../../src/review/findings.ts';
import { locate } from '../../src/review/locate.ts';
import { pgLockFindings } from '../../src/engines/postgres/review.ts';
import { RULES } from '../../src/review/rules.ts';

const shape = (tables: Record<string, { columns: string[]; rows: number; notNull?: string[] }>): SchemaShape =>
  new Map(
    Object.entries(tables).map(([name, t]) => [
      name,
      { rows: t.rows, columns: t.columns.map((c) => ({ name: c, notNull: t.notNull?.includes(c) ?? false, hasDefault: false })) },
    ]),
  );
const timed = (sqls: readonly string[], ms = 1): TimedStatement[] =>
  sqls.map((sql, index) => ({ sql, startedAt: index * ms, durationMs: ms }));
const OPTIONS = { largeTableRows: 100, longLockMs: 1_000_000 };
const same = shape({ acc: { columns: ['id', 'note'], rows: 10 } });
const rulesOf = (sql: string) => detect(same, same, timed([sql]), [], 0, OPTIONS).map((finding) => finding.rule);

describe('detect', () => {
  it('finds DELETE and UPDATE without WHERE, also after WITH, with OR REPLACE or after comments; not inside literals', () => {
    expect(rulesOf('DELETE FROM acc')).toEqual(['unbounded-delete']);
    expect(rulesOf("update `acc` set note = 'WHERE'")).toEqual(['unbounded-update']);
    expect(rulesOf('UPDATE OR REPLACE acc SET note = 1')).toEqual(['unbounded-update']);
    expect(rulesOf('WITH x AS (SELECT 1) DELETE FROM acc')).toEqual(['unbounded-delete']);
    expect(rulesOf('-- clean up\nDELETE FROM "public"."acc"')).toEqual(['unbounded-delete']);
    expect(rulesOf('DELETE FROM acc WHERE id = 1')).toEqual([]);
    expect(rulesOf("SELECT 'DELETE FROM acc'")).toEqual([]);
  });

  it('tells renames from drops: a renamed table or column is not also reported dropped', () => {
    const before = shape({ acc: { columns: ['id', 'note'], rows: 5 }, old: { columns: ['id'], rows: 1 } });
    const after = shape({ acc: { columns: ['id', 'remark'], rows: 5 }, fresh: { columns: ['id'], rows: 1 } });
    const found = detect(
      before,
      after,
      timed(['alter table `acc` rename `note` to `remark`', 'ALTER TABLE "old" RENAME TO "fresh"']),
      [],
      0,
      OPTIONS,
    );
    expect(found.map((finding) => [finding.rule, finding.table, finding.column])).toEqual([
      ['rename-column', 'acc', 'note'],
      ['rename-table', 'old', null],
    ]);
  });

  it('finds drops, NOT NULL without default on a table with rows, shrunk counts, type changes and large rebuilds with their time', () => {
    const before: SchemaShape = new Map([
      [
        'acc',
        {
          rows: 500,
          columns: [
            { name: 'id', notNull: true, hasDefault: false, type: 'integer' },
            { name: 'note', notNull: false, hasDefault: false, type: 'text' },
            { name: 'price', notNull: false, hasDefault: false, type: 'integer' },
          ],
        },
      ],
      ['old', { rows: 3, columns: [{ name: 'id', notNull: false, hasDefault: false }] }],
      ['empty', { rows: 0, columns: [{ name: 'id', notNull: false, hasDefault: false }] }],
    ]);
    const after: SchemaShape = new Map([
      [
        'acc',
        {
          rows: 400,
          columns: [
            { name: 'id', notNull: true, hasDefault: false, type: 'integer' },
            { name: 'price', notNull: false, hasDefault: false, type: 'bigint' },
            { name: 'flag', notNull: true, hasDefault: false },
          ],
        },
      ],
      [
        'empty',
        {
          rows: 0,
          columns: [
            { name: 'id', notNull: false, hasDefault: false },
            { name: 'must', notNull: true, hasDefault: false },
          ],
        },
      ],
    ]);
    const rebuild = [
      'CREATE TABLE `_knex_temp_alter12` (id)',
      'INSERT INTO "_knex_temp_alter12" SELECT * FROM "acc"',
      'DROP TABLE "acc"',
      'ALTER TABLE "_knex_temp_alter12" RENAME TO "acc"',
    ];
    const found = detect(before, after, timed(rebuild, 5), [], 0, OPTIONS);
    expect(found.map((finding) => finding.message)).toEqual([
      'drops column acc.note',
      'changes the type of acc.price from integer to bigint',
      'adds NOT NULL column acc.flag without a default',
      'row count of acc shrank: 500 → 400',
      'rebuilds table acc (500 rows): every row is copied while the write lock is held (20 ms on the copy)',
      'drops table old (3 rows)',
    ]);
  });

  it('long-lock past the threshold, naming the longest locking statement', () => {
    const statements = [
      { sql: 'BEGIN', startedAt: 0, durationMs: 0 },
      { sql: 'SELECT 1', startedAt: 1, durationMs: 900 },
      { sql: 'UPDATE acc SET note = 1 WHERE id < 9', startedAt: 901, durationMs: 300 },
    ];
    const held = lockHeldMs(statements, 1500);
    expect(held).toBe(599);
    const found = detect(same, same, statements, [], held, { largeTableRows: 100, longLockMs: 500 });
    expect(found).toEqual([
      expect.objectContaining({ rule: 'long-lock', durationMs: 599, statement: 'UPDATE acc SET note = 1 WHERE id < 9' }),
    ]);
    expect(detect(same, same, statements, [], held, { largeTableRows: 100, longLockMs: 600 })).toEqual([]);
    // Outside a transaction, each locking statement's own time.
    expect(lockHeldMs(statements.slice(1), 1500)).toBe(300);
  });

  it('reads quoted and schema-qualified names as the schema lists them', () => {
    expect(['"public"."items"', '`items`', '[items]', 'items', 'public.items'].map(bareName)).toEqual([
      'items',
      'items',
      'items',
      'items',
      'items',
    ]);
  });
});

describe('pgLockFindings', () => {
  const before = shape({
    orders: { columns: ['id', 'total'], rows: 1000 },
    small: { columns: ['id'], rows: 5 },
    none: { columns: ['id'], rows: 0 },
  });
  const rules = (sql: string) => pgLockFindings([sql], before, 100).map((finding) => `${finding.rule} ${finding.table}`);
  it('finds indexes without CONCURRENTLY on large tables, constraints without NOT VALID on tables with rows, rewrites', () => {
    expect(rules('create index "orders_total_index" on "orders" ("total")')).toEqual(['index-not-concurrent orders']);
    expect(rules('CREATE UNIQUE INDEX IF NOT EXISTS t ON public.orders (total)')).toEqual(['index-not-concurrent orders']);
    expect(rules('CREATE INDEX CONCURRENTLY t ON orders (total)')).toEqual([]);
    expect(rules('CREATE INDEX t ON small (id)')).toEqual([]);
    expect(rules('alter table "small" add constraint "fk" foreign key ("id") references "orders" ("id")')).toEqual([
      'foreign-key-not-valid small',
    ]);
    expect(rules('ALTER TABLE small ADD CHECK (id > 0)')).toEqual(['foreign-key-not-valid small']);
    expect(rules('ALTER TABLE small ADD CONSTRAINT c CHECK (id > 0) NOT VALID')).toEqual([]);
    expect(rules('ALTER TABLE none ADD CONSTRAINT c CHECK (id > 0)')).toEqual([]);
    expect(rules('ALTER TABLE orders ALTER COLUMN total TYPE bigint')).toEqual(['table-rewrite orders']);
    expect(rules('ALTER TABLE orders ADD COLUMN at timestamptz DEFAULT now()')).toEqual(['table-rewrite orders']);
    expect(rules('ALTER TABLE orders ADD COLUMN n int DEFAULT 0')).toEqual([]);
  });
});

describe('locate', () => {
  it('points at the builder line doing the rule, never at the allow line', () => {
    const source = [
      "export const review = { allow: ['drop-column'] };",
      'export async function up({ context }) {',
      "  await context.schema.alterTable('orders', (t) => {",
      "    t.index(['total']);",
      "    t.dropColumn('note');",
      '  });',
      '}',
    ].join('\n');
    expect(locate(source, 'drop-column', ['note', 'orders'])).toBe(5);
    expect(locate(source, 'index-not-concurrent', [null, 'orders'])).toBe(4);
    expect(locate('-- migrate-guard:allow drop-table\nDROP TABLE old;\n', 'drop-table', [null, 'old'])).toBe(2);
    expect(locate('SELECT 1;\n', 'long-lock', [null, null])).toBe(1);
  });
});

describe('RULES', () => {
  it('has one entry per id, each with why and a safer way', () => {
    expect(new Set(RULES.map((rule) => rule.id)).size).toBe(RULES.length);
    for (const rule of RULES) {
      expect(rule.why.length, rule.id).toBeGreaterThan(10);
      expect(rule.safer.length, rule.id).toBeGreaterThan(10);
    }
  });
});
