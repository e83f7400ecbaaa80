import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listMigrationFiles } from '../../src/migrator/migration-files.ts';
import { planDown, planUp } from '../../src/rollout/select-migrations.ts';
import { TempProject } from '../helpers/project.ts';
import { addItem, createItems } from '../helpers/migrations.ts';
import { rejectionOf, thrownBy } from '../helpers/errors.ts';

const pending = ['003_c', '004_d', '005_e'];
const executed = ['001_a', '002_b'];

describe('planUp', () => {
  it('takes every pending migration without a selection', () => {
    expect(planUp(pending, executed, {})).toEqual(['003_c', '004_d', '005_e']);
  });

  it('stops at --to, inclusive', () => {
    expect(planUp(pending, executed, { to: '003_c' })).toEqual(['003_c']);
    expect(planUp(pending, executed, { to: '004_d' })).toEqual(['003_c', '004_d']);
    expect(planUp(pending, executed, { to: '005_e' })).toEqual(pending);
  });

  it('accepts --to with the file extension', () => {
    for (const extension of ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.sql']) {
      expect(planUp(pending, executed, { to: `004_d${extension}` })).toEqual(['003_c', '004_d']);
    }
  });

  it('has nothing to do when --to names an applied migration', () => {
    expect(planUp(pending, executed, { to: '002_b' })).toEqual([]);
    expect(planUp(pending, executed, { to: '001_a.ts' })).toEqual([]);
  });

  it('refuses an unknown --to before anything, naming it', () => {
    const error = thrownBy(() => planUp(pending, executed, { to: '009_nope' }));
    expect(error).toMatchObject({ code: 'UNKNOWN_MIGRATION', exitCode: 1 });
    expect(error.message).toContain('009_nope');
    // Only whole names count: a prefix is not a name.
    expect(thrownBy(() => planUp(pending, executed, { to: '004' })).code).toBe('UNKNOWN_MIGRATION');
    expect(thrownBy(() => planUp(pending, executed, { to: '004_d.down.sql' })).code).toBe('UNKNOWN_MIGRATION');
  });

  it('takes the first N pending with --step, combined with --to', () => {
    expect(planUp(pending, executed, { step: 1 })).toEqual(['003_c']);
    expect(planUp(pending, executed, { step: 2 })).toEqual(['003_c', '004_d']);
    expect(planUp(pending, executed, { step: 10 })).toEqual(pending);
    expect(planUp(pending, executed, { to: '005_e', step: 1 })).toEqual(['003_c']);
    expect(planUp(pending, executed, { to: '003_c', step: 2 })).toEqual(['003_c']);
  });

  it('returns a new array, leaving the pending list alone', () => {
    const list = [...pending];
    const planned = planUp(list, executed, {});
    planned.pop();
    expect(list).toEqual(pending);
  });
});

describe('planDown', () => {
  let project: TempProject;
  beforeEach(async () => {
    project = await TempProject.create();
  });
  afterEach(async () => {
    await project.cleanup();
  });

  const noDown = `export async function up({ context }) { await context.schema.createTable('t', (t) => { t.increments('id'); }); }\n`;

  /** Three applied migrations with a down each: a script, a `.sql` with `.down.sql`, a script. */
  async function revertible(): Promise<string[]> {
    await project.writeMigration('001_items.ts', createItems);
    await project.writeMigration('002_sql.sql', 'CREATE TABLE s (a);');
    await project.writeMigration('002_sql.down.sql', 'DROP TABLE s;');
    await project.writeMigration('003_add.js', addItem('gamma'));
    return ['001_items', '002_sql', '003_add'];
  }

  it('reverts the last applied migration by default', async () => {
    const applied = await revertible();
    expect(await planDown(applied, await listMigrationFiles(project.migrations), {})).toEqual(['003_add']);
  });

  it('reverts the last N, newest first, with --step', async () => {
    const applied = await revertible();
    const files = await listMigrationFiles(project.migrations);
    expect(await planDown(applied, files, { step: 2 })).toEqual(['003_add', '002_sql']);
    expect(await planDown(applied, files, { step: 9 })).toEqual(['003_add', '002_sql', '001_items']);
  });

  it('reverts down to and including --to, with or without extension', async () => {
    const applied = await revertible();
    const files = await listMigrationFiles(project.migrations);
    expect(await planDown(applied, files, { to: '002_sql' })).toEqual(['003_add', '002_sql']);
    expect(await planDown(applied, files, { to: '002_sql.sql' })).toEqual(['003_add', '002_sql']);
    expect(await planDown(applied, files, { to: '001_items.ts' })).toEqual(['003_add', '002_sql', '001_items']);
  });

  it('refuses a --to that is not applied (unknown or only pending)', async () => {
    const applied = await revertible();
    const files = await listMigrationFiles(project.migrations);
    await project.writeMigration('004_pending.ts', addItem('delta'));
    for (const to of ['009_unknown', '004_pending']) {
      const error = await rejectionOf(planDown(applied, files, { to }));
      expect(error).toMatchObject({ code: 'UNKNOWN_MIGRATION', exitCode: 1 });
      expect(error.message).toContain(to);
    }
  });

  it('refuses when a migration to revert has lost its file', async () => {
    const applied = await revertible();
    await rm(path.join(project.migrations, '003_add.js'));
    const error = await rejectionOf(planDown(applied, await listMigrationFiles(project.migrations), {}));
    expect(error).toMatchObject({ code: 'MIGRATION_CHANGED', exitCode: 1 });
    expect(error.message).toContain('003_add');
  });

  it('refuses a script without down, even when it is not the newest target', async () => {
    const applied = await revertible();
    await writeFile(path.join(project.migrations, '001_items.ts'), noDown);
    const files = await listMigrationFiles(project.migrations);
    const error = await rejectionOf(planDown(applied, files, { to: '001_items' }));
    expect(error).toMatchObject({ code: 'NO_DOWN', exitCode: 1 });
    expect(error.message).toContain('001_items');
    // Reverting only the migrations that have a down is fine.
    expect(await planDown(applied, files, { step: 2 })).toEqual(['003_add', '002_sql']);
  });

  it('refuses a .sql migration without its .down.sql', async () => {
    const applied = await revertible();
    await rm(path.join(project.migrations, '002_sql.down.sql'));
    const files = await listMigrationFiles(project.migrations);
    await expect(planDown(applied, files, { step: 2 })).rejects.toMatchObject({
      code: 'NO_DOWN',
      message: expect.stringContaining('002_sql'),
    });
  });

  it('checks no files when the history has none to give (a project Umzug)', async () => {
    expect(await planDown(['a', 'b'], null, {})).toEqual(['b']);
    expect(await planDown(['a', 'b'], null, { to: 'a' })).toEqual(['b', 'a']);
  });

  it('has nothing to revert when nothing is applied', async () => {
    expect(await planDown([], [], {})).toEqual([]);
  });
});
