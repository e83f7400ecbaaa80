import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, REPO, TempProject, exec, parseReport, sha256 } from '../helpers/project.ts';
import { sarifErrors } from './report-formats.ts';

/**
 * The README's GitHub Actions recipe, run the way the workflow runs it: production takes a
 * verified backup; the CI job has the repository (with the pull request's new migration) and a
 * copy of the backup folder, no database; its "Rehearse the migrations" step, read from the
 * README as written, runs under bash with the step's env and a GITHUB_STEP_SUMMARY file. `npx
 * migrate-guard` is this repository's build (the job's `npm ci` installs the published package).
 */

const items = `export async function up({ context }) {
  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); t.integer('qty'); t.string('note'); });
  await context('items').insert([{ name: 'a', qty: 1, note: 'x' }, { name: 'b', qty: 2, note: 'y' }]);
}
`;
const reshape = `export async function up({ context }) {
  await context.schema.alterTable('items', (t) => {
    t.dropColumn('qty');
  });
  await context.schema.alterTable('items', (t) => {
    t.renameColumn('note', 'remark');
  });
}
`;

/** The README workflow step `name`: its `env:` entries and its `run: |` script. */
async function readmeStep(name: string): Promise<{ env: Record<string, string>; script: string }> {
  const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
  const workflow = /```yaml\n# \.github\/workflows\/migration-review\.yml\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!workflow) throw new Error('README: no migration-review workflow');
  const start = workflow.indexOf(`- name: ${name}\n`);
  if (start < 0) throw new Error(`README: no step ${name}`);
  const rest = workflow.slice(start).split('\n');
  const indent = rest[0]!.indexOf('-');
  const body = rest
    .slice(1)
    .filter((_, index, lines) => lines.slice(0, index + 1).every((line) => line.trim() === '' || line.search(/\S/) > indent));
  const env: Record<string, string> = {};
  let script = '';
  for (let index = 0; index < body.length; index++) {
    const line = body[index]!;
    if (line.trim() === 'env:') {
      for (index++; index < body.length && /^\s+\w+: /.test(body[index]!) && body[index]!.search(/\S/) > line.search(/\S/); index++) {
        const [, key, value] = /^\s+(\w+): (\S+)/.exec(body[index]!)!;
        env[key!] = value!;
      }
      index--;
    } else if (line.trim() === 'run: |') {
      const lines = body.slice(index + 1).filter((text) => text.search(/\S/) > line.search(/\S/) || text.trim() === '');
      const dedent = Math.min(...lines.filter((text) => text.trim()).map((text) => text.search(/\S/)));
      script = lines.map((text) => text.slice(dedent)).join('\n');
      break;
    }
  }
  return { env, script };
}

let production: TempProject;
let ci: TempProject;
beforeEach(async () => {
  production = await TempProject.create();
  ci = await TempProject.create();
});
afterEach(async () => {
  await production.cleanup();
  await ci.cleanup();
});

/** Production: its migrations applied and last night's verified backup; the rows it has since. */
async function productionWithBackup(): Promise<string> {
  await production.writeMigration('001_items.ts', items);
  expect((await production.run(['migrate'])).exitCode).toBe(0);
  const backup = await production.run(['backup', '--kind', 'daily', '--json']);
  expect(backup.exitCode, backup.stderr).toBe(0);
  // Written after the backup: what the rehearsal must not see.
  await exec(production.db, "INSERT INTO items (name, qty, note) VALUES ('c', 3, 'z')");
  return parseReport(backup.stdout).backup.path as string;
}

describe('the README CI recipe', () => {
  it('rehearses on the latest backup, fails on the findings, writes the SARIF and the markdown comment', async () => {
    await productionWithBackup();
    const live = await sha256(production.db);
    // The CI checkout: the migrations with the pull request's, the fetched backup folder, no database.
    await ci.writeMigration('001_items.ts', items);
    await ci.writeMigration('002_reshape.ts', reshape);
    await cp(production.backups, ci.backups, { recursive: true, preserveTimestamps: true });

    const step = await readmeStep('Rehearse the migrations');
    expect(step.script).toContain('--from-backup latest');
    const summary = path.join(ci.dir, 'step-summary.md');
    await writeFile(summary, '');
    const npx = `npx() { if [ "$1" = migrate-guard ]; then shift; fi; node '${BIN}' "$@"; }`;
    const result = await execa('bash', ['-c', `set -e\n${npx}\n${step.script}`], {
      cwd: ci.dir,
      env: { ...step.env, GITHUB_STEP_SUMMARY: summary, GITHUB_ACTIONS: 'true', NODE_ENV: 'development' },
      extendEnv: true,
      reject: false,
      all: true,
      stdin: 'ignore',
    });
    // --fail-on warning: the drop and the rename fail the check.
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toContain('::warning file=migrations/002_reshape.ts,line=3,title=migrate-guard drop-column::');

    const log = JSON.parse(await readFile(path.join(ci.dir, 'migrate-guard.sarif'), 'utf8'));
    expect(await sarifErrors(log)).toEqual([]);
    expect(log.runs[0].results.map((r: any) => [r.ruleId, r.locations[0].physicalLocation.artifactLocation.uri])).toEqual([
      ['rename-column', 'migrations/002_reshape.ts'],
      ['drop-column', 'migrations/002_reshape.ts'],
    ]);
    const comment = await readFile(path.join(ci.dir, 'migrate-guard.md'), 'utf8');
    expect(comment).toBe(await readFile(summary, 'utf8'));
    expect(comment).toContain('on the backup `');
    expect(comment).toContain('| `drop-column` | error | drops column items.qty | `migrations/002_reshape.ts:3` |');
    // The step's database was never created, production's never touched.
    expect(existsSync(path.join(ci.dir, step.env.DATABASE_URL!))).toBe(false);
    expect(await sha256(production.db)).toBe(live);
  });

  it('--from-backup <file> rehearses on that backup (its rows, not the live ones); an unverified one is refused', async () => {
    const backup = await productionWithBackup();
    await production.writeMigration('002_drop.ts', "export async function up({ context }) { await context.schema.dropTable('items'); }\n");
    const live = await sha256(production.db);
    const result = await production.run(['migrate', '--dry-run', '--json', '--from-backup', path.basename(backup)]);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.fromBackup).toBe(backup);
    // Two rows in the backup; the live table has three.
    expect(report.findings.map((finding: any) => finding.message)).toEqual(['drops table items (2 rows)']);
    expect(await sha256(production.db)).toBe(live);

    const manifest = `${backup}.manifest.json`;
    const recorded = JSON.parse(await readFile(manifest, 'utf8'));
    await writeFile(manifest, JSON.stringify({ ...recorded, verified: false }));
    const refused = await production.run(['migrate', '--dry-run', '--json', '--from-backup', backup]);
    expect(refused.exitCode).toBe(1);
    expect(parseReport(refused.stdout).error.message).toMatch(/is not verified/);
    expect(await sha256(production.db)).toBe(live);
  });
});
