import { beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseReport, type TempProject } from '../helpers/project.ts';
import { addItem, createItems } from '../helpers/migrations.ts';
import { postgresDatabase, sqliteCopy, sqliteDatabase, type TestDatabase } from '../helpers/databases.ts';
import { useMigratedDatabase, type DatabaseMaker } from '../helpers/use-database.ts';

/**
 * `timings.lockHeldMs` and `timings.lockWaitMs` (what the application felt of the run's locks) in
 * every migrate and down report, on both engines and in both transaction modes, and on the
 * summary line. Only their presence and their bounds are asserted: no timed assertion.
 */
const ENGINES: readonly (DatabaseMaker & { readonly name: string })[] = [
  { name: 'sqlite', fresh: async (project) => sqliteDatabase(project.db), copy: (template, project) => sqliteCopy(template, project.db) },
  { name: 'postgres', fresh: () => postgresDatabase(), copy: (template) => postgresDatabase('mg_cli', { template }) },
];

describe.each(ENGINES)('$name: the locks a run held and waited for', (engine) => {
  let project: TempProject;
  let db: TestDatabase;
  const migrated = useMigratedDatabase(engine, { '001_items.ts': createItems });
  beforeEach(() => {
    ({ project, db } = migrated());
  });
  const run = async (args: readonly string[], exitCode: number) => {
    const result = await human(['--json', ...args], exitCode);
    return parseReport(result.stdout);
  };
  /** Without --json: the summary line is on stderr. */
  const human = async (args: readonly string[], exitCode: number) => {
    const result = await project.run([...args, '--config', 'migrate-guard.config.mjs'], { env: { DATABASE_URL: db.url } });
    expect(result.exitCode, result.all).toBe(exitCode);
    return result;
  };
  const sane = (report: Record<string, any>) => {
    expect(report.timings.lockHeldMs).toEqual(expect.any(Number));
    expect(report.timings.lockWaitMs).toEqual(expect.any(Number));
    expect(report.timings.lockWaitMs).toBeGreaterThanOrEqual(0);
    // Held from BEGIN to COMMIT: some of the run, never more than all of it.
    expect(report.timings.lockHeldMs).toBeGreaterThan(0);
    expect(report.timings.lockHeldMs).toBeLessThanOrEqual(report.durationMs);
    expect(report.timings.lockHeldMs + report.timings.lockWaitMs).toBeLessThanOrEqual(report.durationMs);
  };

  for (const transactions of ['group', 'per-migration'] as const) {
    it(`${transactions}: migrate, down and a run with nothing to do`, async () => {
      await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), `export default { transactions: '${transactions}' };\n`);
      await project.writeMigration('002_gamma.ts', addItem('gamma'));
      await project.writeMigration('003_delta.ts', addItem('delta'));

      if (transactions === 'group') {
        // The dry run estimates them from its rehearsal: what the real run would hold; no one to wait for.
        const rehearsed = await run(['migrate', '--dry-run'], 0);
        expect(rehearsed.timings.lockHeldMs).toEqual(expect.any(Number));
        expect(rehearsed.timings.lockHeldMs).toBeLessThanOrEqual(rehearsed.durationMs);
        expect(rehearsed.timings.lockWaitMs).toBe(0);
        const said = await human(['migrate', '--dry-run'], 0);
        expect(said.stderr + said.stdout).toMatch(/the real run would hold its lock about \d+\.\d\ds\)/);
      }
      const up = await run(['migrate'], 0);
      expect(up.applied).toEqual(['002_gamma', '003_delta']);
      sane(up);

      const nothing = await run(['migrate'], 0);
      expect(nothing.timings).toMatchObject({ lockHeldMs: 0, lockWaitMs: 0 });

      const down = await run(['down'], 0);
      expect(down.reverted).toEqual(['003_delta']);
      sane(down);
      const again = await human(['down'], 0);
      expect(again.stderr).toMatch(/done: 1 migration\(s\) reverted in .*; lock held \d+\.\d\ds, waited (0s|\d+\.\d\ds); backup /);
    });
  }

  it('a failed run says them on its last line too (exit 2)', async () => {
    await writeFile(path.join(project.dir, 'migrate-guard.config.mjs'), 'export default {};\n');
    await project.writeMigration('002_broken.ts', "export async function up() { throw new Error('boom'); }\n");
    const before = await db.dump();
    sane(await run(['migrate'], 2));
    const failed = await human(['migrate'], 2);
    expect(await db.dump()).toBe(before);
    expect(failed.stderr).toMatch(/nothing was changed; lock held \d+\.\d\ds, waited (0s|\d+\.\d\ds) \(exit 2\)/);
  });
});
