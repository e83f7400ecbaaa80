import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, TempProject, parseReport, sha256 } from '../helpers/project.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { normaliseMarkdown, parseJunit, sarifErrors } from './report-formats.ts';

/**
 * The "done when": a project where one migration drops a column and renames another (on
 * SQLite), and one where a migration builds an index without CONCURRENTLY on a 300k-row table and
 * another adds a foreign key without NOT VALID (on PostgreSQL). Every format carries the right rule
 * ids located in the right file; `--fail-on warning` exits 1 and the default 0; the GitHub summary
 * file receives the markdown; the live database never changes.
 */

const RESHAPE = 'migrations/002_reshape.ts';
const reshape = `export async function up({ context }) {
  await context.schema.alterTable('items', (t) => {
    t.dropColumn('qty');
  });
  await context.schema.alterTable('items', (t) => {
    t.renameColumn('note', 'remark');
  });
}
`;
const items = `export async function up({ context }) {
  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); t.integer('qty'); t.string('note'); });
  await context('items').insert([{ name: 'a', qty: 1, note: 'x' }, { name: 'b', qty: 2, note: 'y' }]);
}
`;

describe('dry-run report formats on SQLite: a migration drops a column and renames another', () => {
  let project: TempProject;
  let live: string;
  beforeAll(async () => {
    project = await TempProject.create();
    await project.writeMigration('001_items.ts', items);
    const first = await project.run(['migrate']);
    expect(first.exitCode, first.all).toBe(0);
    await project.writeMigration('002_reshape.ts', reshape);
    live = await sha256(project.db);
  });
  afterAll(async () => {
    expect(await sha256(project.db)).toBe(live);
    await project.cleanup();
  });

  it('--json: the findings with their rule ids, file and line; the default exits 0, --fail-on warning and error 1', async () => {
    const result = await project.run(['migrate', '--dry-run', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.findings.map((f: any) => [f.rule, f.severity, f.file, f.line, f.table, f.column])).toEqual([
      ['rename-column', 'error', RESHAPE, 6, 'items', 'note'],
      ['drop-column', 'error', RESHAPE, 3, 'items', 'qty'],
    ]);
    expect(report).toMatchObject({ ok: true, exitCode: 0, failOn: 'failure', fromBackup: null });
    expect(report.plan[0]).toMatchObject({ name: '002_reshape', file: RESHAPE, status: 'would-apply' });
    for (const [failOn, exitCode] of [
      ['warning', 1],
      ['error', 1],
      ['never', 0],
    ] as const) {
      const run = await project.run(['migrate', '--dry-run', '--json', '--fail-on', failOn]);
      expect(run.exitCode, `${failOn}: ${run.stderr}`).toBe(exitCode);
      expect(parseReport(run.stdout)).toMatchObject({ ok: true, exitCode, failOn });
    }
    expect(await sha256(project.db)).toBe(live);
  });

  it('markdown: the checked-in expected report, written atomically to --output and appended to GITHUB_STEP_SUMMARY', async () => {
    const summary = path.join(project.dir, 'summary.md');
    await writeFile(summary, '# an earlier step\n');
    const result = await project.run(['migrate', '--dry-run', '--format', 'markdown', '--output', 'report.md'], {
      env: { GITHUB_STEP_SUMMARY: summary },
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    const markdown = await readFile(path.join(project.dir, 'report.md'), 'utf8');
    // The checked-in expected report (vitest writes it when missing, outside CI; `-u` rewrites it).
    await expect(normaliseMarkdown(markdown)).toMatchFileSnapshot(path.join(REPO, 'test/fixtures/review/sqlite-reshape.md'));
    expect(await readFile(summary, 'utf8')).toBe(`# an earlier step\n${markdown}\n`);
    expect(await sha256(project.db)).toBe(live);
  });

  it('sarif: valid SARIF 2.1.0, the rules with help, results in the migration file', async () => {
    const result = await project.run(['migrate', '--dry-run', '--format', 'sarif', '--output', 'review.sarif']);
    expect(result.exitCode, result.stderr).toBe(0);
    const log = JSON.parse(await readFile(path.join(project.dir, 'review.sarif'), 'utf8'));
    expect(await sarifErrors(log)).toEqual([]);
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe('migrate-guard');
    expect(run.tool.driver.rules.map((rule: any) => rule.id)).toContain('drop-column');
    expect(run.tool.driver.rules.every((rule: any) => rule.help.text.length > 0)).toBe(true);
    expect(
      run.results.map((r: any) => [
        r.ruleId,
        r.level,
        r.locations[0].physicalLocation.artifactLocation.uri,
        r.locations[0].physicalLocation.region.startLine,
      ]),
    ).toEqual([
      ['rename-column', 'error', RESHAPE, 6],
      ['drop-column', 'error', RESHAPE, 3],
    ]);
    for (const result of run.results) expect(run.tool.driver.rules[result.ruleIndex].id).toBe(result.ruleId);
  });

  it('junit: one testcase per migration and per check; a failure for the findings that count under --fail-on', async () => {
    const plain = await project.run(['migrate', '--dry-run', '--format', 'junit']);
    expect(plain.exitCode, plain.stderr).toBe(0);
    const report = parseJunit(plain.stdout);
    expect(report.cases.map((testcase) => [testcase.suite, testcase.name, testcase.failure])).toEqual([
      ['migrations', '002_reshape', null],
      ['checks', 'integrity (full)', null],
      ['checks', 'foreign-keys', null],
      ['checks', 'smoke', null],
    ]);
    expect(report.cases[0]!.file).toBe(RESHAPE);
    expect(report.cases[0]!.out).toContain('error drop-column: drops column items.qty');

    const strict = await project.run(['migrate', '--dry-run', '--format', 'junit', '--fail-on', 'warning']);
    expect(strict.exitCode).toBe(1);
    const failed = parseJunit(strict.stdout);
    expect(failed.failures).toBe(1);
    expect(failed.cases[0]!.failure).toBe('rename-column: renames column items.note to remark; drop-column: drops column items.qty');
  });

  it('github: ::warning annotations on the migration file; under GitHub Actions they come with any format', async () => {
    const result = await project.run(['migrate', '--dry-run', '--format', 'github']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout.trimEnd().split('\n')).toEqual([
      `::warning file=${RESHAPE},line=6,title=migrate-guard rename-column::002_reshape: renames column items.note to remark`,
      `::warning file=${RESHAPE},line=3,title=migrate-guard drop-column::002_reshape: drops column items.qty`,
    ]);
    const actions = await project.run(['migrate', '--dry-run', '--json'], { env: { GITHUB_ACTIONS: 'true' } });
    expect(actions.exitCode).toBe(0);
    expect(actions.stderr).toContain(`::warning file=${RESHAPE},line=3,title=migrate-guard drop-column::`);
    // stdout stays the JSON report alone.
    expect(parseReport(actions.stdout).findings).toHaveLength(2);
  });

  it('refuses a report flag without --dry-run, and --json with another format on stdout (exit 1, nothing run)', async () => {
    const real = await project.run(['migrate', '--format', 'sarif']);
    expect(real.exitCode).toBe(1);
    expect(real.stderr).toContain("--format describe(s) a dry run's report; add --dry-run");
    const both = await project.run(['migrate', '--dry-run', '--json', '--format', 'markdown']);
    expect(both.exitCode).toBe(1);
    expect(parseReport(both.stdout).error.code).toBe('USAGE');
    const bad = await project.run(['migrate', '--dry-run', '--fail-on', 'sometimes']);
    expect(bad.exitCode).not.toBe(0);
    expect(await sha256(project.db)).toBe(live);
  });
});

describe('dry-run report formats on PostgreSQL: an index without CONCURRENTLY on 300k rows, a foreign key without NOT VALID', () => {
  const INDEX = 'migrations/002_orders_index.ts';
  const FOREIGN_KEY = 'migrations/003_orders_user.ts';
  let project: TempProject;
  let db: TestDatabase;
  let live: string;
  const run = (args: readonly string[], env: Record<string, string> = {}) => project.run(args, { env: { DATABASE_URL: db.url, ...env } });
  beforeAll(async () => {
    project = await TempProject.create();
    db = await postgresDatabase('mg_review_formats');
    await project.writeMigration(
      '001_orders.ts',
      `export async function up({ context }) {
  await context.schema.createTable('users', (t) => { t.increments('id'); t.string('email'); });
  await context.raw("INSERT INTO users (email) SELECT 'u' || x || '@example.com' FROM generate_series(1, 1000) x");
  await context.schema.createTable('orders', (t) => { t.increments('id'); t.integer('user_id'); t.integer('total'); });
  await context.raw('INSERT INTO orders (user_id, total) SELECT 1 + x % 1000, x % 977 FROM generate_series(1, 300000) x');
}
`,
    );
    const first = await run(['migrate']);
    expect(first.exitCode, first.all).toBe(0);
    await project.writeMigration(
      '002_orders_index.ts',
      `export async function up({ context }) {
  await context.schema.alterTable('orders', (t) => {
    t.index(['total']);
  });
}
`,
    );
    await project.writeMigration(
      '003_orders_user.ts',
      `export async function up({ context }) {
  await context.schema.alterTable('orders', (t) => {
    t.foreign('user_id').references('users.id');
  });
}
`,
    );
    live = await db.dump();
  }, 180_000);
  afterAll(async () => {
    expect(await db.dump()).toBe(live);
    await db.drop();
    await project.cleanup();
  }, 180_000);

  it('every format carries index-not-concurrent and foreign-key-not-valid in their files; exit 0, and 1 with --fail-on warning', async () => {
    const json = await run(['migrate', '--dry-run', '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const report = parseReport(json.stdout);
    expect(report.findings.map((f: any) => [f.rule, f.file, f.line, f.table, f.rows])).toEqual([
      ['index-not-concurrent', INDEX, 3, 'orders', 300_000],
      ['foreign-key-not-valid', FOREIGN_KEY, 3, 'orders', 300_000],
    ]);
    expect(report.timings.lockWaitMs).toBe(0);
    expect(report.timings.lockHeldMs).toBeGreaterThan(0);

    const summary = path.join(project.dir, 'summary.md');
    const strict = await run(['migrate', '--dry-run', '--fail-on', 'warning', '--format', 'sarif', '--output', 'review.sarif'], {
      GITHUB_STEP_SUMMARY: summary,
    });
    expect(strict.exitCode, strict.stderr).toBe(1);
    const log = JSON.parse(await readFile(path.join(project.dir, 'review.sarif'), 'utf8'));
    expect(await sarifErrors(log)).toEqual([]);
    expect(log.runs[0].results.map((r: any) => [r.ruleId, r.locations[0].physicalLocation.artifactLocation.uri])).toEqual([
      ['index-not-concurrent', INDEX],
      ['foreign-key-not-valid', FOREIGN_KEY],
    ]);
    const markdown = await readFile(summary, 'utf8');
    expect(markdown).toContain('## migrate-guard dry run: ⚠️ would pass, with 2 finding(s)');
    expect(markdown).toContain(
      `| \`index-not-concurrent\` | warning | CREATE INDEX on orders (300000 rows) without CONCURRENTLY blocks every write to it while it builds | \`${INDEX}:3\` |`,
    );
    expect(markdown).toContain(`| \`foreign-key-not-valid\` | warning |`);
    expect(markdown).toContain(`\`${FOREIGN_KEY}:3\``);

    const junit = await run(['migrate', '--dry-run', '--format', 'junit', '--fail-on', 'warning']);
    expect(junit.exitCode).toBe(1);
    const cases = parseJunit(junit.stdout).cases.filter((testcase) => testcase.suite === 'migrations');
    expect(cases.map((testcase) => [testcase.name, testcase.file, testcase.failure?.split(':')[0]])).toEqual([
      ['002_orders_index', INDEX, 'index-not-concurrent'],
      ['003_orders_user', FOREIGN_KEY, 'foreign-key-not-valid'],
    ]);

    const github = await run(['migrate', '--dry-run', '--format', 'github']);
    expect(github.exitCode).toBe(0);
    expect(github.stdout).toContain(
      `::warning file=${INDEX},line=3,title=migrate-guard index-not-concurrent::002_orders_index: CREATE INDEX on orders`,
    );
    expect(github.stdout).toContain(
      `::warning file=${FOREIGN_KEY},line=3,title=migrate-guard foreign-key-not-valid::003_orders_user: adds a foreign key`,
    );
  }, 300_000);
});
