import type { ProjectUmzug } from '../migrator/project-umzug.ts';
import type { MigrationFile } from '../migrator/migration-files.ts';
import { planDown, planUp, type Selection } from './select-migrations.ts';

/**
 * What differs between `migrate` and `down`: the runbook is the same, only these words, the
 * choice of migrations and the umzug call change.
 */
export interface Direction {
  readonly name: 'up' | 'down';
  readonly command: 'migrate' | 'down';
  /** What a migration is after this direction ran it; also the hooks' MIGRATE_GUARD_OUTCOME. */
  readonly done: 'applied' | 'reverted';
  /** umzug's events around one migration in this direction. */
  readonly events: { readonly starting: 'migrating' | 'reverting'; readonly finished: 'migrated' | 'reverted' };
  readonly nothingToDo: string;
  /** `3 pending migration(s)`, `1 migration(s) to revert`. */
  readonly planned: string;
  /** The migrations this run will run, in order; refuses (before anything) what cannot run. */
  choose(state: MigrationState, files: readonly MigrationFile[] | null, selection: Selection): Promise<string[]>;
  run(umzug: ProjectUmzug, names: readonly string[]): Promise<unknown>;
}

export interface MigrationState {
  /** Every migration not applied yet, in order. */
  readonly pending: readonly string[];
  /** Every applied migration, in the order they ran. */
  readonly executed: readonly string[];
  /** What knex calls the last batch (`down`'s default), when the history keeps batches. */
  readonly lastBatch: readonly string[] | null;
}

export const UP: Direction = {
  name: 'up',
  command: 'migrate',
  done: 'applied',
  events: { starting: 'migrating', finished: 'migrated' },
  nothingToDo: 'database is up to date: nothing to migrate',
  planned: 'pending migration(s)',
  choose: async (state, _files, selection) => planUp(state.pending, state.executed, selection),
  run: (umzug, names) => umzug.up({ migrations: [...names] }),
};

export const DOWN: Direction = {
  name: 'down',
  command: 'down',
  done: 'reverted',
  events: { starting: 'reverting', finished: 'reverted' },
  nothingToDo: 'nothing to revert',
  planned: 'migration(s) to revert',
  choose: (state, files, selection) => planDown(state.executed, files, selection, state.lastBatch),
  // Exactly the planned migrations, newest first.
  run: (umzug, names) => umzug.down({ migrations: [...names] }),
};
