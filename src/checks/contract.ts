import type { Knex } from 'knex';
import type { ChangedSet, Engine, Reader } from '../engines/contract.ts';

/** The `checks` entries of the `--json` report. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** A project's own check: throw, or return a failure message; return nothing when healthy. */
export interface CustomCheck {
  readonly name: string;
  readonly run: (knex: Knex) => Promise<string | void | undefined | null | boolean> | string | void | undefined | null | boolean;
}

/**
 * What a check may look at: the database through the run's executor, as a reader and as knex.
 * In a rollout both are the executor the migrations wrote through, so a check sees their result
 * before it is committed.
 */
export interface CheckContext {
  readonly engine: Pick<Engine, 'integrity' | 'foreignKeyViolations' | 'listTables' | 'quote' | 'labels'>;
  readonly reader: Reader;
  readonly knex: Knex;
  /** What the run wrote: the structural checks prove that at full strength (and the rest by its structure). */
  readonly changed?: ChangedSet;
}
