import { readFile } from 'node:fs/promises';
import type { Knex } from 'knex';
import { GuardError } from '../errors.ts';
import { sourceExcerpt } from '../load-failure.ts';
import { loadProjectFile } from '../load-module.ts';
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
  return typeof (await loadScript(file)).down === 'function';
}

/** A migration script's module; one that cannot be loaded is refused naming its file and line. */
export async function loadScript(file: Pick<MigrationFile, 'name' | 'path'>): Promise<ScriptModule> {
  const loaded = (await loadProjectFile({ file: file.path, role: `migration ${file.name}`, code: 'PROJECT_FILE_INVALID' })) as ScriptModule;
  // A CommonJS migration arrives as `default` when imported from ESM.
  return typeof loaded.up === 'function' ? loaded : (loaded.default ?? loaded);
}

/** A `.sql` file always runs in a transaction; a script can opt out, as in knex. */
export async function isTransactional(file: MigrationFile): Promise<boolean> {
  if (file.format === 'sql') return true;
  return (await loadScript(file)).config?.transaction !== false;
}

/**
 * Before anything is touched: every migration the run will run loads, and exports the function
 * the run calls (`up` to apply, `down` to revert), as knex validates before it migrates. A file
 * that does not is refused, named, with the line of the export it has instead (`upp`).
 */
export async function checkMigrations(files: readonly MigrationFile[], direction: 'up' | 'down'): Promise<void> {
  for (const file of files) {
    if (file.format === 'sql') continue;
    const script = await loadScript(file);
    if (typeof script[direction] !== 'function') throw await missingExport(file, script, direction);
  }
}

/** Why a migration cannot be reverted: no `.down.sql`, or no `down` export (pointing at a near miss such as `dwon`). */
export async function noDown(file: MigrationFile): Promise<GuardError> {
  if (file.format === 'sql')
    return new GuardError('NO_DOWN', `cannot revert ${file.name}: it has no down migration (${file.name}.down.sql); nothing was changed`);
  const missing = await describeMissing(file, await loadScript(file), 'down');
  return new GuardError(
    'NO_DOWN',
    `${missing.place}: cannot revert ${file.name}: it ${missing.what}; nothing was changed`,
    missing.options,
  );
}

async function missingExport(file: MigrationFile, script: ScriptModule, direction: 'up' | 'down'): Promise<GuardError> {
  const missing = await describeMissing(file, script, direction);
  return new GuardError(
    'PROJECT_FILE_INVALID',
    `${missing.place}: migration ${file.name} ${missing.what}; nothing was run`,
    missing.options,
  );
}

/** What the module exports instead of `direction`, and where: the line of a near miss (`upp`) when there is one. */
async function describeMissing(file: MigrationFile, script: ScriptModule, direction: 'up' | 'down') {
  const exported = [...new Set([...Object.keys(script), ...Object.keys(script.default ?? {})])].filter(
    (key) => key !== 'default' && key !== '__esModule',
  );
  const near = exported.includes(direction) ? direction : exported.find((key) => isNear(key, direction));
  const what =
    near === direction
      ? `exports ${direction}, but not as a function`
      : `does not export ${direction}()${near ? `; it exports ${near}: a typo?` : exported.length > 0 ? ` (it exports ${exported.join(', ')})` : ''}`;
  const location = near ? await findName(file.path, near) : null;
  const excerpt = location ? await sourceExcerpt(location) : null;
  return {
    place: location ? `${location.file}:${location.line}:${location.column}` : file.path,
    what,
    options: { ...(location ? { location } : {}), ...(excerpt ? { context: excerpt } : {}) },
  };
}

/** `upp`, `Up`, `up_`: a name one edit away, whatever its case. */
function isNear(key: string, wanted: string): boolean {
  const a = key.toLowerCase();
  const b = wanted.toLowerCase();
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  // One insertion, deletion or substitution.
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  return a.slice(i + (a.length >= b.length ? 1 : 0)) === b.slice(i + (b.length >= a.length ? 1 : 0));
}

async function findName(file: string, name: string): Promise<{ file: string; line: number; column: number } | null> {
  const source = await readFile(file, 'utf8').catch(() => null);
  if (source === null) return null;
  const match = new RegExp(`(?<![\\w$])${name.replace(/[$]/g, '\\$&')}(?![\\w$])`).exec(source);
  if (!match) return null;
  const before = source.slice(0, match.index).split('\n');
  return { file, line: before.length, column: before.at(-1)!.length + 1 };
}
