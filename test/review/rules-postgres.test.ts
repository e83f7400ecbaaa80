import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TempProject, parseReport } from '../helpers/project.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';

/**
 * Each review rule on PostgreSQL, through the real CLI against a real database of its own: the
 * rules every engine has, and the ones only PostgreSQL's locks give (index-not-concurrent,
 * foreign-key-not-valid, a rewriting ALTER). The live database's logical dump never changes.
 */
const base = `
export async function up({ context }) {
  await context.schema.createTable('users', (t) => { t.increments('id'); t.string('email'); });
  await context.raw("INSERT INTO users (email) SELECT 'u' || x || '@example.com' FROM generate_series(1, 50) x");
  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); t.integer('qty'); t.string('note'); t.integer('price'); t.integer('user_id'); });
  await context.raw("INSERT INTO items (name, qty, note, price, user_id) SELECT 'n' || x, x, 'x', x, 1 + x % 50 FROM generate_series(1, 40) x");
  await context.schema.createTable('old_stuff', (t) => { t.increments('id'); });
  await context.schema.createTable('renamed_me', (t) => { t.increments('id'); });
  await context.schema.createTable('logs', (t) => { t.increments('id'); t.string('msg'); });
  await context.raw("INSERT INTO logs (msg) VALUES ('one'), ('two')");
}
`;
const up = (body: string, extra = '') => `${extra}\nexport async function up({ context }) {\n  ${body}\n}\n`;

const perRule: Record<string, { source: string; rules: string[] }> = {
  '002_drop_table.ts': { source: up("await context.schema.dropTable('old_stuff');"), rules: ['drop-table'] },
  '003_drop_column.ts': {
    source: up("await context.schema.alterTable('items', (t) => { t.dropColumn('qty'); });"),
    rules: ['drop-column'],
  },
  '004_rename_table.ts': { source: up("await context.schema.renameTable('renamed_me', 'renamed');"), rules: ['rename-table'] },
  '005_rename_column.ts': {
    source: up("await context.schema.alterTable('items', (t) => { t.renameColumn('note', 'remark'); });"),
    rules: ['rename-column'],
  },
  // The column gets a default to fill the rows, which is then dropped: the old code's inserts fail.
  '006_not_null.sql': {
    source: "ALTER TABLE items ADD COLUMN sku text NOT NULL DEFAULT '-';\nALTER TABLE items ALTER COLUMN sku DROP DEFAULT;\n",
    rules: ['not-null-without-default'],
  },
  // A type change rewrites the table: large here (thresholds.largeTableRows is 10).
  '007_type.sql': { source: 'ALTER TABLE items ALTER COLUMN price TYPE bigint;\n', rules: ['column-type-change', 'table-rewrite'] },
  '008_index.ts': {
    source: up("await context.schema.alterTable('items', (t) => { t.index(['name']); });"),
    rules: ['index-not-concurrent'],
  },
  '009_foreign_key.ts': {
    source: up("await context.schema.alterTable('items', (t) => { t.foreign('user_id').references('users.id'); });"),
    rules: ['foreign-key-not-valid'],
  },
  '010_update.sql': { source: 'UPDATE logs SET msg = upper(msg);\n', rules: ['unbounded-update'] },
  '011_delete.sql': { source: 'DELETE FROM logs;\n', rules: ['rows-shrunk', 'unbounded-delete'] },
};

let project: TempProject;
let db: TestDatabase;
beforeEach(async () => {
  project = await TempProject.create();
  db = await postgresDatabase('mg_review');
  await project.writeConfig('export default { thresholds: { largeTableRows: 10 } };\n');
  await project.writeMigration('001_base.ts', base);
  const first = await project.run(['migrate'], { env: { DATABASE_URL: db.url } });
  expect(first.exitCode, first.all).toBe(0);
});
afterEach(async () => {
  await db.drop();
  await project.cleanup();
});

describe('review rules on PostgreSQL', () => {
  it('reports each rule in the migration that does it', async () => {
    for (const [file, { source }] of Object.entries(perRule)) await project.writeMigration(file, source);
    const before = await db.dump();
    const result = await project.run(['migrate', '--dry-run', '--json'], { env: { DATABASE_URL: db.url } });
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    const found: Record<string, string[]> = {};
    for (const finding of report.findings) (found[finding.migration] ??= []).push(finding.rule);
    expect(Object.fromEntries(Object.entries(found).map(([name, rules]) => [name, rules.sort()]))).toEqual(
      Object.fromEntries(Object.entries(perRule).map(([file, { rules }]) => [file.replace(/\.(ts|sql)$/, ''), [...rules].sort()])),
    );
    const index = report.findings.find((finding: any) => finding.rule === 'index-not-concurrent');
    expect(index).toMatchObject({ table: 'items', rows: 40, file: 'migrations/008_index.ts', line: 3 });
    expect(report.findings.find((finding: any) => finding.rule === 'column-type-change').message).toBe(
      'changes the type of items.price from integer to bigint',
    );
    expect(report.findings.find((finding: any) => finding.rule === 'table-rewrite').durationMs).toBeGreaterThanOrEqual(0);
    expect(report.timings.lockWaitMs).toBe(0);
    expect(await db.dump()).toBe(before);
  });

  it('NOT VALID and CONCURRENTLY are the safer ways: nothing to report; allowed findings do not count', async () => {
    await project.writeMigration(
      '002_safe.sql',
      'ALTER TABLE items ADD CONSTRAINT items_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nALTER TABLE items VALIDATE CONSTRAINT items_user;\n',
    );
    await project.writeMigration(
      '003_index.ts',
      up("await context.raw('CREATE INDEX CONCURRENTLY items_name ON items (name)');", 'export const config = { transaction: false };'),
    );
    await project.writeMigration(
      '004_check.sql',
      '-- migrate-guard:allow foreign-key-not-valid\nALTER TABLE items ADD CONSTRAINT price_positive CHECK (price > 0);\n',
    );
    const before = await db.dump();
    const result = await project.run(['migrate', '--dry-run', '--json', '--fail-on', 'warning'], { env: { DATABASE_URL: db.url } });
    expect(result.exitCode, result.stdout).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.findings.map((finding: any) => [finding.migration, finding.rule, finding.allowedBy])).toEqual([
      ['004_check', 'foreign-key-not-valid', 'migration'],
    ]);
    expect(await db.dump()).toBe(before);
  });

  it('--from-backup latest rehearses on the newest verified dump, not on what the live database has since', async () => {
    const backup = await project.run(['backup', '--json'], { env: { DATABASE_URL: db.url } });
    expect(backup.exitCode, backup.stderr).toBe(0);
    await db.exec("INSERT INTO logs (msg) VALUES ('three')");
    await project.writeMigration('002_drop_logs.ts', up("await context.schema.dropTable('logs');"));
    const before = await db.dump();
    const result = await project.run(['migrate', '--dry-run', '--json', '--from-backup', 'latest'], { env: { DATABASE_URL: db.url } });
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.fromBackup).toBe(parseReport(backup.stdout).backup.path);
    expect(report.findings.map((finding: any) => finding.message)).toEqual(['drops table logs (2 rows)']);
    expect(await db.dump()).toBe(before);
  });
});
