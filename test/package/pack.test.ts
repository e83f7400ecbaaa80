import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli as cliIn, installApp, packTarball, run } from '../helpers/packed-app.ts';
import { REPO, parseReport, query } from '../helpers/project.ts';
import { pathExists } from '../../src/fs/paths.ts';

/**
 * The published package, as a user gets it: `npm pack` of a clean copy of the working tree (no
 * dist/, so `prepare` builds it, as for a git install), then `npm install <tarball>` into an app
 * of its own in a temp folder, then plain Node, the CLI through npx, and TypeScript against it.
 */

let work: string;
let app: string;
let packedFiles: readonly string[];

const cli = (args: readonly string[]) => cliIn(app, args, { DATABASE_URL: path.join(app, 'app.db') });

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'migrate-guard-pack-'));
  const tarball = await packTarball(work);
  packedFiles = tarball.files;
  app = path.join(work, 'app');
  await installApp(tarball.file, app, { name: 'some-app', private: true, type: 'module' });
  await mkdir(path.join(app, 'migrations'), { recursive: true });
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the compiled code, its types, the bin and the README, nothing of the repository', () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'bin/migrate-guard.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']),
    );
    const repositoryOnly =
      /^(src|test|bench|\.ci|migrations)\/|^(knexfile\.ts|migrate-guard\.config\.ts|tsconfig.*\.json|vitest\.config\.ts|package-lock\.json)$/;
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
        expect(parseReport(result.stdout)).toMatchObject({
          pending: [],
          applied: [expect.objectContaining({ name: '001_items', file: 'unchanged' })],
        });
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
    // Node's types: the app has them when a dependency brings them (mysql2 does), else the repository's.
    if (!(await pathExists(path.join(app, 'node_modules/@types/node')))) {
      await mkdir(path.join(app, 'node_modules/@types'), { recursive: true });
      await symlink(path.join(REPO, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
    }
    const tsc = await run(
      'node',
      [
        path.join(REPO, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        '--skipLibCheck',
        'use.ts',
      ],
      app,
    );
    expect(tsc.exitCode, tsc.all).toBe(0);
  });
});
