import type { Knex } from 'knex';
import type { Reader } from '../engines/contract.ts';
import type { MigrationNaming } from '../migrator/migration-files.ts';

/** One applied migration as the history records it. */
export interface AppliedMigration {
  readonly name: string;
  /** sha256 of the file when it ran; null when the history has none for it. */
  readonly checksum: string | null;
  readonly appliedAt: string;
  readonly durationMs: number | null;
  /** knex's batch: the migrations one run applied together (`down` reverts the last batch). */
  readonly batch?: number | null;
}

/** What a run records when a migration has been applied. */
export interface HistoryEntry {
  readonly name: string;
  readonly checksum: string | null;
  readonly durationMs: number;
}

/** Writes one run's history rows (a run is one knex batch), through the executor the run chose. */
export interface HistoryRecorder {
  record(db: Knex, entry: HistoryEntry): Promise<void>;
  forget(db: Knex, name: string): Promise<void>;
}

/**
 * Which migrations ran. The history lives in the database itself where it can (ours, knex's), so
 * the record of what ran is restored together with the data. Reading never creates anything (a
 * preview or `status` must not write); writing goes through the executor the run chose, so a
 * migration and its history row commit or roll back together.
 */
export interface MigrationHistory {
  /** Where the history is kept, for messages. */
  readonly table: string;
  /**
   * Whether the history is a table in the database `applied` reads through its reader: then a
   * snapshot carries it, a manifest records it and a restore proves it.
   */
  readonly inDatabase: boolean;
  /** How this history names a migration file. */
  readonly naming: MigrationNaming;
  /** What ran, in the order it ran; empty when there is no history yet. */
  applied(reader: Reader): Promise<AppliedMigration[]>;
  /** A recorder for one run. */
  recorder(): HistoryRecorder;
  /**
   * Marks the history as in use for the tools that share it (knex's `is_locked`), so a
   * `knex migrate:latest` started meanwhile fails as it would against another knex. False when
   * there is nothing to mark (no other tool has used this history yet); refuses when it is held.
   */
  lock?(db: Knex): Promise<boolean>;
  /** Clears the mark: at the end of our run, or after a killed run of ours (its journal says it held one). */
  unlock?(reader: Reader): Promise<void>;
  /**
   * After a restore put the database back: make a history kept outside the database say what the
   * database now says (`executed` before the run), since the restore could not reach it.
   */
  reconcile?(executedBefore: readonly string[]): Promise<void>;
}
