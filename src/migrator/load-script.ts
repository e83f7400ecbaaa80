import type { Knex } from 'knex';
import { importProjectFile } from '../load-module.ts';
import type { MigrationFile } from './migration-files.ts';

/** What a migration's `up`/`down` is called with: knex's `up(knex)` and umzug's `up({ context })` both work. */
export type MigrationArgument = Knex & { readonly context: Knex; readonly path?: string };

export type MigrationFn = (argument: MigrationArgument) => unknown;

interface ScriptModule {
  readonly up?: MigrationFn;
  readonly down?: MigrationFn;
  /** As in knex: `export const config = { transaction: false }` opts a migration out. */
  readonly config?: { readonly transaction?: boolean };
  readonly default?: ScriptModule;
}

/** Whether a migration can be reverted: a script exporting `down`, or a `.sql` with `.down.sql`. */
export async function hasDown(file: MigrationFile): Promise<boolean> {
  if (file.format === 'sql') return file.downPath !== null;
  return typeof (await loadScript(file.path)).down === 'function';
}

export async function loadScript(file: string): Promise<ScriptModule> {
  const loaded = (await importProjectFile(file)) as ScriptModule;
  // A CommonJS migration arrives as `default` when imported from ESM.
  return typeof loaded.up === 'function' ? loaded : (loaded.default ?? loaded);
}

/** A `.sql` file always runs in a transaction; a script can opt out, as in knex. */
export async function isTransactional(file: MigrationFile): Promise<boolean> {
  if (file.format === 'sql') return true;
  return (await loadScript(file.path)).config?.transaction !== false;
}
