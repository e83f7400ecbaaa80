import type { Knex } from 'knex';
import type { Umzug } from 'umzug';
import type { MigrationHistory } from './contract.ts';

/**
 * A project's own Umzug: its storage is the history, and umzug writes it as each migration
 * finishes. Where that storage is does not show from here (a JSON file, a table, memory), so a
 * snapshot's facts cannot carry it: `applied` answers for the live project only, and restores
 * are proven by schema and row counts alone.
 */
export function umzugHistory(umzug: Umzug<Knex>): MigrationHistory {
  return {
    table: 'the project Umzug storage',
    inDatabase: false,
    applied: async () =>
      (await umzug.executed()).map((migration) => ({ name: migration.name, checksum: null, appliedAt: '', durationMs: null })),
    // umzug's own storage records; its migrations run their own transactions.
    record: async () => undefined,
    forget: async () => undefined,
  };
}
