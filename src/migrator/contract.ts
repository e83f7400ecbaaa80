/** One applied migration as the migration storage records it. */
export interface AppliedMigration {
  readonly name: string;
  readonly checksum: string | null;
  readonly appliedAt: string;
  readonly durationMs: number | null;
}

/** What migrate-guard needs from a migration storage beyond umzug's own contract. */
export interface ChecksummedStorage {
  applied(): Promise<AppliedMigration[]>;
}
