import type { Knex } from 'knex';
import type { SqliteConnection } from '../db.ts';

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

/** What a check may look at: the database through a raw connection and through knex. */
export interface CheckContext {
  readonly connection: SqliteConnection;
  readonly knex: Knex;
}
