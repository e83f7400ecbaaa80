import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TempProject, parseReport, sha256 } from '../helpers/project.ts';

/**
 * Each review rule that means something on SQLite, through the real CLI: one pending migration
 * per rule, so each migration's findings are exactly its rule's. The live database stays byte
 * for byte what it was.
 */
const base = `
export async function up({ context }) {
  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); t.integer('qty'); t.string('note'); t.integer('price'); });
  await context('items').insert([{ name: 'a', qty: 1, note: 'x', price: 3 }, { name: 'b', qty: 2, note: 'y', price: 4 }]);
  await context.schema.createTable('old_stuff', (t) => { t.increments('id'); });
  await context('old_stuff').insert({});
  await context.schema.createTable('renamed_me', (t) => { t.increments('id'); });
  await context.schema.createTable('logs', (t) => { t.increments('id'); t.string('msg'); });
  await context('logs').insert([{ msg: 'one' }, { msg: 'two' }]);
  await context.schema.createTable('big', (t) => { t.increments('id'); t.string('v'); });
  await context.raw("INSERT INTO big (v) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) SELECT 'v' || x FROM n");
}
`;

const up = (body: string, extra = '') => `${extra}\nexport async function up({ context }) {\n  ${body}\n}\n`;

/** Migration file → the rule ids its dry run must report, nothing more. */
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
  '006_not_null.ts': {
    source: up("await context.schema.alterTable('items', (t) => { t.string('name').notNullable().alter(); });"),
    rules: ['not-null-without-default'],
  },
  '007_type.ts': {
    source: up("await context.schema.alterTable('items', (t) => { t.text('price').alter(); });"),
    rules: ['column-type-change'],
  },
  '008_rewrite.ts': { source: up("await context.schema.alterTable('big', (t) => { t.string('v').alter(); });"), rules: ['table-rewrite'] },
  '009_update.ts': { source: up("await context.raw('UPDATE logs SET msg = upper(msg)');"), rules: ['unbounded-update'] },
  '010_delete.sql': { source: 'DELETE FROM logs;\n', rules: ['rows-shrunk', 'unbounded-delete'] },
  '011_shrink.ts': { source: up("await context('big').where('id', '>', 40).delete();"), rules: ['rows-shrunk'] },
};

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
  await project.writeConfig('export default { thresholds: { largeTableRows: 10 } };\n');
  await project.writeMigration('001_base.ts', base);
  const first = await project.run(['migrate']);
  expect(first.exitCode, first.all).toBe(0);
});
afterEach(async () => {
  await project.cleanup();
});

const rulesBy = (report: Record<string, any>) => {
  const found: Record<string, string[]> = {};
  for (const finding of report.findings) (found[finding.migration] ??= []).push(finding.rule);
  return Object.fromEntries(Object.entries(found).map(([name, rules]) => [name, rules.sort()]));
};

describe('review rules on SQLite', () => {
  it('reports each rule in the migration that does it, located in its file', async () => {
    for (const [file, { source }] of Object.entries(perRule)) await project.writeMigration(file, source);
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--dry-run', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(rulesBy(report)).toEqual(
      Object.fromEntries(Object.entries(perRule).map(([file, { rules }]) => [file.replace(/\.(ts|sql)$/, ''), [...rules].sort()])),
    );
    for (const finding of report.findings) {
      expect(finding.file).toBe(`migrations/${Object.keys(perRule).find((file) => file.startsWith(finding.migration))}`);
      expect(finding.allowedBy).toBeNull();
      expect(finding.line).toBeGreaterThanOrEqual(1);
    }
    // Today's warnings are the counted findings' messages.
    expect(report.plan.find((entry: any) => entry.name === '003_drop_column').warnings).toEqual(['drops column items.qty']);
    const rewrite = report.findings.find((finding: any) => finding.rule === 'table-rewrite');
    expect(rewrite).toMatchObject({ table: 'big', rows: 50, severity: 'warning' });
    expect(rewrite.durationMs).toBeGreaterThanOrEqual(0);
    expect(report.findings.find((finding: any) => finding.rule === 'column-type-change').message).toBe(
      'changes the type of items.price from INTEGER to TEXT',
    );
    expect(report.timings.lockWaitMs).toBe(0);
    // The migrations' locking time plus the checks, which a group holds its lock through too.
    expect(report.timings.lockHeldMs).toBe(
      report.plan.reduce((sum: number, entry: any) => sum + entry.lockHeldMs, 0) + (report.checks.length > 0 ? report.timings.checks : 0),
    );
    expect(await sha256(project.db)).toBe(before);
  });

  it('lets a migration (exports.review, -- migrate-guard:allow) or the config allow a rule: reported, not counted', async () => {
    await project.writeConfig(
      "export default { thresholds: { largeTableRows: 10 }, review: { allow: [{ rule: 'rename-table', tables: ['renamed_me'] }] } };\n",
    );
    await project.writeMigration('002_drop_table.sql', '-- migrate-guard:allow drop-table\nDROP TABLE old_stuff;\n');
    await project.writeMigration(
      '003_drop_column.ts',
      up("await context.schema.alterTable('items', (t) => { t.dropColumn('qty'); });", "export const review = { allow: ['drop-column'] };"),
    );
    await project.writeMigration('004_rename_table.ts', perRule['004_rename_table.ts']!.source);
    const before = await sha256(project.db);
    const result = await project.run(['migrate', '--dry-run', '--json', '--fail-on', 'warning']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.findings.map((finding: any) => [finding.rule, finding.allowedBy])).toEqual([
      ['drop-table', 'migration'],
      ['drop-column', 'migration'],
      ['rename-table', 'config'],
    ]);
    // The finding is located at the statement, not at the allow comment.
    expect(report.findings[0].line).toBe(2);
    expect(report.plan.flatMap((entry: any) => entry.warnings)).toEqual([]);
    expect(await sha256(project.db)).toBe(before);

    // The same rename on another table is not allowed by the config's entry.
    await project.writeMigration('005_rename_logs.ts', up("await context.schema.renameTable('logs', 'journal');"));
    const counted = await project.run(['migrate', '--dry-run', '--json', '--fail-on', 'warning']);
    expect(counted.exitCode, counted.stderr).toBe(1);
    expect(parseReport(counted.stdout).findings.at(-1)).toMatchObject({ rule: 'rename-table', table: 'logs', allowedBy: null });
  });

  it('long-lock: a migration holding the write lock past thresholds.longLockMs, allowed by its review', async () => {
    await project.writeConfig('export default { thresholds: { longLockMs: 0 } };\n');
    await project.writeMigration('002_backfill.ts', up("await context('logs').where('id', 1).update({ msg: 'ONE' });"));
    const result = await project.run(['migrate', '--dry-run', '--json', '--fail-on', 'warning']);
    expect(result.exitCode, result.stderr).toBe(1);
    const report = parseReport(result.stdout);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ rule: 'long-lock', migration: '002_backfill', allowedBy: null });
    expect(report.findings[0].durationMs).toBe(report.plan[0].lockHeldMs);
    expect(report.findings[0].statement).toMatch(/^update `logs`/);

    await project.writeMigration(
      '002_backfill.ts',
      up("await context('logs').where('id', 1).update({ msg: 'ONE' });", "export const review = { allow: ['long-lock'] };"),
    );
    const allowed = await project.run(['migrate', '--dry-run', '--json', '--fail-on', 'warning']);
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    expect(parseReport(allowed.stdout).findings[0].allowedBy).toBe('migration');
  });
});
