import { GuardError } from '../errors.ts';
import type { MigrationFile } from '../migrator/migration-files.ts';
import { hasDown, noDown } from '../migrator/load-script.ts';

export interface Selection {
  readonly to?: string | undefined;
  readonly step?: number | undefined;
}

function bareName(name: string): string {
  return name.replace(/\.(ts|mts|cts|js|mjs|cjs|sql)$/, '');
}

/** Where `given` is in `names`: the exact name, or the same name with or without its extension. */
function indexOfName(names: readonly string[], given: string): number {
  const exact = names.indexOf(given);
  return exact >= 0 ? exact : names.findIndex((name) => bareName(name) === bareName(given));
}

/** The pending migrations up to and including `to`; an unknown name refuses before anything. */
export function planUp(pending: readonly string[], executed: readonly string[], selection: Selection): string[] {
  let targets = [...pending];
  if (selection.to !== undefined) {
    const index = indexOfName(pending, selection.to);
    if (index >= 0) targets = pending.slice(0, index + 1);
    else if (indexOfName(executed, selection.to) >= 0) targets = [];
    else
      throw new GuardError('UNKNOWN_MIGRATION', `--to ${selection.to}: no migration of that name; run migrate-guard status to list them`);
  }
  if (selection.step !== undefined) targets = targets.slice(0, selection.step);
  return targets;
}

/**
 * The applied migrations to revert, newest first: by default the last batch when the history
 * keeps batches (knex's `migrate:rollback`), else the last one; the last N with `step`; or
 * everything down to and including `to`. Every one of them must have a `down` (and still have its
 * file), checked before anything changes.
 */
export async function planDown(
  executed: readonly string[],
  files: readonly MigrationFile[] | null,
  selection: Selection,
  lastBatch: readonly string[] | null = null,
): Promise<string[]> {
  const newestFirst = [...executed].reverse();
  let targets: string[];
  if (selection.to !== undefined) {
    const index = indexOfName(newestFirst, selection.to);
    if (index < 0) {
      throw new GuardError(
        'UNKNOWN_MIGRATION',
        `--to ${selection.to}: no applied migration of that name; run migrate-guard status to list them`,
      );
    }
    targets = newestFirst.slice(0, index + 1);
  } else if (selection.step === undefined && lastBatch !== null && lastBatch.length > 0) {
    targets = newestFirst.filter((name) => lastBatch.includes(name));
  } else {
    targets = newestFirst.slice(0, selection.step ?? 1);
  }
  if (files !== null) {
    const byName = new Map(files.map((file) => [file.name, file]));
    for (const name of targets) {
      const file = byName.get(name);
      if (!file)
        throw new GuardError(
          'MIGRATION_CHANGED',
          `cannot revert ${name}: its file is missing from the migrations folder; nothing was changed`,
        );
      if (!(await hasDown(file))) throw await noDown(file);
    }
  }
  return targets;
}
