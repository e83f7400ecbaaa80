import type { Knex } from 'knex';
import type { Reader } from '../engines/contract.ts';

/** One applied migration as the history records it. */
export interface AppliedMigration {
  readonly name: string;
  /** sha256 of the file when it ran; null when the history does not keep checksums. */
  readonly checksum: string | null;
  readonly appliedAt: string;
  readonly durationMs: number | null;
}

/** What a run records when a migration has been applied. */
export interface HistoryEntry {
  readonly name: string;
  readonly checksum: string | null;
  readonly durationMs: number;
}

/**
 * Which migrations ran. It lives in the database itself, so the record of what ran is restored
 * together with the data. Reading never creates anything (a preview or `status` must not write);
 * writing goes through the executor the run chose, so a migration and its history row commit or
 * roll back together.
 */
export interface MigrationHistory {
  /** Where the history is kept, for messages. */
  readonly table: string;
  /**
   * Whether the history is a table in the database `applied` reads through its reader: then a
   * snapshot carries it, a manifest records it and a restore proves it.
   */
  readonly inDatabase: boolean;
  /** What ran, in the order the history keeps; empty when there is no history yet. */
  applied(reader: Reader): Promise<AppliedMigration[]>;
  record(db: Knex, entry: HistoryEntry): Promise<void>;
  forget(db: Knex, name: string): Promise<void>;
}
