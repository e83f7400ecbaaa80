import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { REPO, parseReport, query } from '../helpers/project.ts';

/**
 * The published package, as a user gets it: `npm pack` of a clean copy of the working tree (no
 * dist/, so `prepare` builds it, as for a git install), then `npm install <tarball>` into an app
 * of its own in a temp folder, then plain Node, the CLI through npx, and TypeScript against it.
 */

let work: string;
let app: string;
let packedFiles: string[];

/**
 * The environment of `npm test` tells a nested npm where the outer project is
 * (npm_config_local_prefix and friends): drop what npm exported so the nested npm works on the
 * folder it runs in, keeping the user's cache, registry and npmrc.
 */
function cleanEnv(): Record<string, string | undefined> {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_') || keep.has(key)));
}

const run = (command: string, args: readonly string[], cwd: string, env: Record<string, string | undefined> = {}) =>
  execa(command, [...args], { cwd, env: { ...cleanEnv(), ...env }, extendEnv: false, reject: false, all: true, stdin: 'ignore' });

const cli = (args: readonly string[]) => run('npx', ['--no', 'migrate-guard', ...args], app, { DATABASE_URL: path.join(app, 'app.db') });

/** Tracked and new (not ignored) files, without dist/ or node_modules: what a clone holds. */
async function copyWorkingTree(to: string): Promise<void> {
  const listed = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO });
  for (const file of listed.stdout.split('\0')) {
    if (!file || file === 'node_modules' || !existsSync(path.join(REPO, file))) continue;
    await mkdir(path.dirname(path.join(to, file)), { recursive: true });
    await copyFile(path.join(REPO, file), path.join(to, file));
  }
  // For `prepare` (tsc and the types it compiles against).
  await symlink(path.join(REPO, 'node_modules'), path.join(to, 'node_modules'));
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'migrate-guard-pack-'));
  const checkout = path.join(work, 'checkout');
  await copyWorkingTree(checkout);
  // The real pack's --json lists the tarball's files exactly as `npm pack --dry-run --json` does.
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], checkout);
  expect(pack.exitCode, pack.all).toBe(0);
  const [packed] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  packedFiles = packed.files.map((file) => file.path);

  app = path.join(work, 'app');
  await mkdir(path.join(app, 'migrations'), { recursive: true });
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'some-app', private: true, type: 'module' }));
  // --ignore-scripts: with its install script sqlite3 compiles from source (a minute, more on a
  // loaded CI machine); the dependencies' scripts are not what this test is about. The repo's own
  // `npm ci` built the very same sqlite3 version for this Node on this machine, so its binary is
  // copied in; another version (a newer 6.x resolved here) is built for real.
  // migrate-guard itself has no install scripts. esbuild (under tsx) runs without its postinstall.
  const install = await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', path.join(work, packed.filename)], app);
  expect(install.exitCode, install.all).toBe(0);
  const version = (dir: string) => run('node', ['-p', "require('./node_modules/sqlite3/package.json').version"], dir).then((r) => r.stdout);
  if ((await version(app)) === (await version(REPO))) {
    const binding = 'node_modules/sqlite3/build/Release/node_sqlite3.node';
    await mkdir(path.dirname(path.join(app, binding)), { recursive: true });
    await copyFile(path.join(REPO, binding), path.join(app, binding));
  } else {
    const rebuild = await run('npm', ['rebuild', 'sqlite3'], app);
    expect(rebuild.exitCode, rebuild.all).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the compiled code, its types, the bin and the README, nothing of the repository', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/migrate-guard.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']));
    const repositoryOnly = /^(src|test|bench|\.ci|migrations)\/|^(knexfile\.ts|migrate-guard\.config\.ts|tsconfig.*\.json|vitest\.config\.ts|package-lock\.json)$/;
    expect(packedFiles.filter((file) => repositoryOnly.test(file))).toEqual([]);
  });

  it('runs from plain JavaScript with tsx not even installed: ESM import, require, the CLI with a .js migration', async () => {
    // Hidden, so that anything loading tsx would fail.
    await rename(path.join(app, 'node_modules/tsx'), path.join(app, 'node_modules/.tsx-hidden'));
    try {
      await writeFile(
        path.join(app, 'migrations/001_items.js'),
        `export async function up({ context }) {
  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name'); });
  await context('items').insert({ name: 'from js' });
}
export async function down({ context }) { await context.schema.dropTable('items'); }
`,
      );
      const before = await cli(['status', '--json']);
      expect(before.exitCode, before.all).toBe(0);
      expect(parseReport(before.stdout).pending).toEqual(['001_items']);

      const migrate = await cli(['migrate', '--json']);
      expect(migrate.exitCode, migrate.all).toBe(0);
      expect(parseReport(migrate.stdout).applied).toEqual(['001_items']);
      expect(await query(path.join(app, 'app.db'), 'SELECT name FROM items')).toEqual([{ name: 'from js' }]);

      const options = JSON.stringify({ database: path.join(app, 'app.db'), migrationsDir: path.join(app, 'migrations') });
      await writeFile(
        path.join(app, 'status.mjs'),
        `import { runStatus } from 'migrate-guard';\nconsole.log(JSON.stringify(await runStatus(${options})));\n`,
      );
      await writeFile(
        path.join(app, 'status.cjs'),
        `const { runStatus } = require('migrate-guard');\nrunStatus(${options}).then((report) => console.log(JSON.stringify(report)));\n`,
      );
      for (const script of ['status.mjs', 'status.cjs']) {
        const result = await run('node', [script], app);
        expect(result.exitCode, result.all).toBe(0);
        expect(result.stderr).toBe('');
        expect(parseReport(result.stdout)).toMatchObject({ pending: [], applied: [expect.objectContaining({ name: '001_items', file: 'unchanged' })] });
      }
    } finally {
      await rename(path.join(app, 'node_modules/.tsx-hidden'), path.join(app, 'node_modules/tsx'));
    }
  });

  it('loads a .ts migration through tsx, and its types check a TypeScript user', async () => {
    await writeFile(
      path.join(app, 'migrations/002_notes.ts'),
      `import type { Knex } from 'knex';
export async function up({ context }: { context: Knex }): Promise<void> {
  await context.schema.alterTable('items', (t) => { t.text('notes'); });
}
`,
    );
    const migrate = await cli(['migrate', '--json']);
    expect(migrate.exitCode, migrate.all).toBe(0);
    expect(parseReport(migrate.stdout).applied).toEqual(['002_notes']);
    const status = await cli(['status', '--json']);
    expect(parseReport(status.stdout).applied.map((migration: { name: string }) => migration.name)).toEqual(['001_items', '002_notes']);

    await writeFile(
      path.join(app, 'use.ts'),
      `import { runStatus, defineConfig, type StatusReport } from 'migrate-guard';
const report: StatusReport = await runStatus({ database: 'app.db', migrationsDir: 'migrations' });
export const pending: readonly string[] = report.pending;
// @ts-expect-error: the options are typed (this line is an error only if the types resolved)
await runStatus({ database: 'app.db' });
export default defineConfig({ checks: { integrity: 'quick' } });
`,
    );
    await mkdir(path.join(app, 'node_modules/@types'), { recursive: true });
    await symlink(path.join(REPO, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
    const tsc = await run(
      'node',
      [path.join(REPO, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'use.ts'],
      app,
    );
    expect(tsc.exitCode, tsc.all).toBe(0);
  });
});
