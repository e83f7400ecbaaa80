import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TempProject, exec, parseReport, sha256 } from '../helpers/project.ts';
import { createItems } from '../helpers/migrations.ts';

/**
 * Mistakes in the project's own files (issue 23), through the real binary: each is refused (exit
 * 1) with the file and the line in the message and in --json, before anything is touched: no
 * database file is created, an existing one stays byte for byte, no backup is taken.
 */

let project: TempProject;

beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

type Extension = 'ts' | 'js' | 'mjs' | 'cjs';
const EXTENSIONS: readonly Extension[] = ['ts', 'js', 'mjs', 'cjs'];

/** A module's source in the syntax its extension implies: CommonJS for .cjs, ES modules otherwise. */
interface Mistake {
  readonly name: string;
  /** The line the refusal must point at. */
  readonly line: number;
  readonly source: (extension: Extension) => string;
  /** What the message must say besides the place. */
  readonly says: RegExp;
}

const MISTAKES: readonly Mistake[] = [
  {
    name: 'a syntax error (a missing `)`)',
    line: 3,
    source: (extension) =>
      [
        extension === 'cjs' ? 'exports.up = async function ({ context }) {' : 'export async function up({ context }) {',
        "  await context.schema.createTable('notes', (t) => {",
        "    t.increments('id';",
        '  });',
        '}',
        '',
      ].join('\n'),
    says: /syntax error in migration 002_mistake/,
  },
  {
    name: 'a package that is not installed',
    line: 2,
    source: (extension) =>
      [
        '// slugs for the notes table',
        extension === 'cjs' ? "const slugify = require('does-not-exist');" : "import slugify from 'does-not-exist';",
        extension === 'cjs' ? 'exports.up = async function ({ context }) {' : 'export async function up({ context }) {',
        "  await context.schema.createTable(slugify('notes'), (t) => t.increments('id'));",
        '}',
        '',
      ].join('\n'),
    says: /migration 002_mistake imports 'does-not-exist', which is not installed: run npm install does-not-exist/,
  },
  {
    name: 'no `up` export (a typo: `upp`)',
    line: 2,
    source: (extension) =>
      [
        '// notes',
        extension === 'cjs' ? 'exports.upp = async function ({ context }) {' : 'export async function upp({ context }) {',
        "  await context.schema.createTable('notes', (t) => t.increments('id'));",
        '}',
        '',
      ].join('\n'),
    says: /migration 002_mistake does not export up\(\); it exports upp: a typo\?/,
  },
];

/** Every file under the project folder (the database, its lock and journal, backups), as relative paths. */
async function projectFiles(): Promise<string[]> {
  const entries = await readdir(project.dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(project.dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Runs `args` with --json, then without, asserting both refuse with the place of the mistake; returns the human output and the report. */
async function refusedAt(
  args: readonly string[],
  file: string,
  line: number,
  code: string,
  says: RegExp,
): Promise<{ stderr: string; report: Record<string, any> }> {
  const json = await project.run([...args, '--json']);
  expect(json.exitCode, json.all).toBe(1);
  const report = parseReport(json.stdout);
  expect(report).toMatchObject({ ok: false, exitCode: 1, error: { code, file, line } });
  expect(report.error.column).toBeGreaterThan(0);
  expect(report.error.message).toContain(`${file}:${line}:${report.error.column}: `);
  expect(report.error.message).toMatch(says);

  const human = await project.run([...args]);
  expect(human.exitCode, human.all).toBe(1);
  const lines = human.stderr.split('\n');
  // One line that points at the mistake, then the offending line with a caret under it.
  const first = lines.findIndex((text) => text.startsWith(`migrate-guard: ${file}:${line}:`));
  expect(first, human.stderr).toBeGreaterThanOrEqual(0);
  expect(
    lines.slice(first + 1).some((text) => text.startsWith(`> ${line} | `)),
    human.stderr,
  ).toBe(true);
  expect(
    lines.slice(first + 1).some((text) => /^\s+\|\s*\^$/.test(text)),
    human.stderr,
  ).toBe(true);
  return { stderr: human.stderr, report };
}

describe('a mistake in a migration is refused before anything is touched', () => {
  for (const mistake of MISTAKES) {
    for (const extension of EXTENSIONS) {
      it(`${mistake.name}, in .${extension}: no database is created`, async () => {
        await project.writeMigration('001_items.ts', createItems);
        const file = await project.writeMigration(`002_mistake.${extension}`, mistake.source(extension));
        const before = await projectFiles();

        await refusedAt(['migrate'], file, mistake.line, 'PROJECT_FILE_INVALID', mistake.says);
        expect(existsSync(project.db)).toBe(false);
        // Not even the lock file: nothing at all was created.
        expect(await projectFiles()).toEqual(before);
      });

      it(`${mistake.name}, in .${extension}: an existing database stays byte for byte, no backup taken`, async () => {
        await project.writeMigration('001_items.ts', createItems);
        expect((await project.run(['migrate'])).exitCode).toBe(0);
        const file = await project.writeMigration(`002_mistake.${extension}`, mistake.source(extension));
        const sum = await sha256(project.db);
        const backups = await project.backupFiles();

        const { report } = await refusedAt(['migrate'], file, mistake.line, 'PROJECT_FILE_INVALID', mistake.says);
        // A refusal once the plan is known says what was pending.
        expect(report.pending).toEqual(['002_mistake']);
        expect(await sha256(project.db)).toBe(sum);
        expect(await project.backupFiles()).toEqual(backups);
      });
    }
  }

  it('a mistake in a later migration refuses the whole run: the good ones before it do not run either', async () => {
    await project.writeMigration('001_items.ts', createItems);
    await project.writeMigration(
      '002_good.ts',
      "export async function up({ context }) { await context.schema.createTable('good', (t) => t.increments('id')); }\n",
    );
    const file = await project.writeMigration('003_mistake.mjs', MISTAKES[2]!.source('mjs'));
    await refusedAt(['migrate'], file, 2, 'PROJECT_FILE_INVALID', /migration 003_mistake does not export up\(\)/);
    expect(existsSync(project.db)).toBe(false);
  });

  it('--dry-run refuses it before copying anything (exit 1), the database byte for byte', async () => {
    await project.writeMigration('001_items.ts', createItems);
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const file = await project.writeMigration('002_mistake.ts', MISTAKES[0]!.source('ts'));
    const sum = await sha256(project.db);
    const { stderr } = await refusedAt(['migrate', '--dry-run'], file, 3, 'PROJECT_FILE_INVALID', /syntax error in migration 002_mistake/);
    expect(stderr).not.toContain('rehearsing on a copy');
    expect(await sha256(project.db)).toBe(sum);
  });

  it('down refuses a migration without `down` (a typo: `dwn`), pointing at it, before any backup', async () => {
    await project.writeMigration('001_items.ts', createItems);
    const file = await project.writeMigration(
      '002_notes.cjs',
      [
        "exports.up = async function ({ context }) { await context.schema.createTable('notes', (t) => t.increments('id')); };",
        'exports.dwn = async function ({ context }) {',
        "  await context.schema.dropTable('notes');",
        '};',
        '',
      ].join('\n'),
    );
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const sum = await sha256(project.db);
    const backups = await project.backupFiles();
    await refusedAt(['down'], file, 2, 'NO_DOWN', /cannot revert 002_notes: it does not export down\(\); it exports dwn: a typo\?/);
    expect(await sha256(project.db)).toBe(sum);
    expect(await project.backupFiles()).toEqual(backups);
  });

  it('down names a syntax error in the migration it would revert', async () => {
    await project.writeMigration('001_items.ts', createItems);
    expect((await project.run(['migrate'])).exitCode).toBe(0);
    const sum = await sha256(project.db);
    const backups = await project.backupFiles();
    // Edited after it ran, and broken: the broken file is what stops the revert.
    const file = await project.writeMigration('001_items.ts', `${createItems}\nexport const broken = (;\n`);
    await refusedAt(['down'], file, createItems.split('\n').length + 1, 'PROJECT_FILE_INVALID', /syntax error in migration 001_items/);
    expect(await sha256(project.db)).toBe(sum);
    expect(await project.backupFiles()).toEqual(backups);
  });

  it('baseline refuses it before the scratch run and the backup', async () => {
    await exec(project.db, 'CREATE TABLE notes (id INTEGER PRIMARY KEY)');
    const sum = await sha256(project.db);
    const file = await project.writeMigration('001_notes.mjs', MISTAKES[0]!.source('mjs'));
    await refusedAt(['baseline', '--to', '001_notes'], file, 3, 'PROJECT_FILE_INVALID', /syntax error in migration 001_notes/);
    expect(await sha256(project.db)).toBe(sum);
    expect(await project.backupFiles()).toEqual([]);
  });

  it('a migration that throws while loading is named with its line and its own stack, nothing else', async () => {
    await project.writeMigration('001_items.ts', createItems);
    const file = await project.writeMigration(
      '002_throws.mjs',
      [
        'const table = process.env.NOTES_TABLE;',
        "if (!table) throw new Error('NOTES_TABLE is not set');",
        'export async function up() {}',
        '',
      ].join('\n'),
    );
    const { stderr } = await refusedAt(
      ['migrate'],
      file,
      2,
      'PROJECT_FILE_INVALID',
      /migration 002_throws threw while loading: NOTES_TABLE is not set/,
    );
    expect(stderr).toContain(`at ${file}:2:`);
    // The stack is trimmed to the user's files: none of migrate-guard's or Node's frames.
    expect(stderr).not.toMatch(/node_modules|node:internal|dist\//);
    expect(existsSync(project.db)).toBe(false);
  });
});

describe('no migrations: nothing is created', () => {
  it('migrate in a folder without migrations/ refuses and creates no database', async () => {
    await rm(project.migrations, { recursive: true });
    const result = await project.run(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(1);
    expect(parseReport(result.stdout).error).toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(`migrations folder ${project.migrations} does not exist`),
    });
    expect(await projectFiles()).toEqual([]);
  });

  it('migrate with an empty migrations folder is up to date and creates no database', async () => {
    const result = await project.run(['migrate']);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toContain('nothing to migrate');
    expect(await projectFiles()).toEqual([]);
  });

  it('a fresh install still creates the database when there is something to run', async () => {
    await project.writeMigration('001_items.ts', createItems);
    const result = await project.run(['migrate']);
    expect(result.exitCode, result.all).toBe(0);
    expect(existsSync(project.db)).toBe(true);
  });
});

describe('a mistake in the knexfile or the config is refused with its place', () => {
  const knexfile = (extension: Extension) =>
    [
      extension === 'cjs' ? 'module.exports = {' : 'export default {',
      "  client: 'sqlite3',",
      "  connection: { filename: './app.db' ,",
      '};',
      '',
    ].join('\n');

  for (const extension of EXTENSIONS) {
    it(`knexfile.${extension} with a syntax error`, async () => {
      await project.writeMigration('001_items.ts', createItems);
      const file = path.join(project.dir, `knexfile.${extension}`);
      await writeFile(file, knexfile(extension));
      const before = await projectFiles();
      await refusedAt(['migrate'], file, 4, 'CONFIG_INVALID', /syntax error in knexfile/);
      expect(existsSync(project.db)).toBe(false);
      expect(await projectFiles()).toEqual(before);
    });
  }

  const config = (extension: Extension) =>
    [
      extension === 'cjs' ? 'module.exports = {' : 'export default {',
      "  checks: { integrity: 'full' }",
      "  transactions: 'group',",
      '};',
      '',
    ].join('\n');

  for (const extension of EXTENSIONS) {
    it(`migrate-guard.config.${extension} with a syntax error, the database byte for byte`, async () => {
      await project.writeMigration('001_items.ts', createItems);
      expect((await project.run(['migrate'])).exitCode).toBe(0);
      const sum = await sha256(project.db);
      const backups = await project.backupFiles();
      const file = path.join(project.dir, `migrate-guard.config.${extension}`);
      await writeFile(file, config(extension));
      // .cjs is not looked for by name: it is given.
      const args = extension === 'cjs' ? ['migrate', '--config', file] : ['migrate'];
      await refusedAt(args, file, 3, 'CONFIG_INVALID', /syntax error in config/);
      expect(await sha256(project.db)).toBe(sum);
      expect(await project.backupFiles()).toEqual(backups);
    });
  }

  it('a project Umzug module with a syntax error', async () => {
    await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), "export default { umzug: './umzug.mjs' };\n");
    const file = path.join(project.dir, 'umzug.mjs');
    await writeFile(
      file,
      ["import { Umzug } from 'umzug';", "export const umzug = new Umzug({ migrations: { glob: 'm/*.js' , });", ''].join('\n'),
    );
    await mkdir(path.join(project.dir, 'm'));
    const before = await projectFiles();
    await refusedAt(['migrate'], file, 2, 'CONFIG_INVALID', /syntax error in umzug module/);
    expect(await projectFiles()).toEqual(before);
  });
});
