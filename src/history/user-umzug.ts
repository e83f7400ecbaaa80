import type { UmzugStorage } from 'umzug';
import type { ProjectUmzug } from '../migrator/project-umzug.ts';
import type { MigrationHistory } from './contract.ts';

/**
 * A project's own Umzug: its storage is the history, and umzug writes it as each migration
 * finishes. Where that storage is does not show from here (a JSON file, a table, memory), so a
 * snapshot's facts cannot carry it, and a restore of the database cannot reach it: after a
 * restore, `reconcile` makes the storage say again what it said before the run.
 */
export function umzugHistory(umzug: ProjectUmzug): MigrationHistory {
  return {
    table: 'the project Umzug storage',
    inDatabase: false,
    naming: 'base-name',
    applied: async () =>
      (await umzug.executed()).map((migration) => ({ name: migration.name, checksum: null, appliedAt: '', durationMs: null })),
    // umzug's own storage records; its migrations run their own transactions.
    recorder: () => ({ record: async () => undefined, forget: async () => undefined }),
    async reconcile(executedBefore) {
      // umzug keeps its storage private; the instance's own is the only one that knows where it writes.
      const storage = (umzug as unknown as { storage: UmzugStorage<unknown> }).storage;
      const context = await (umzug as unknown as { getContext(): Promise<unknown> }).getContext();
      const now = (await umzug.executed()).map((migration) => migration.name);
      for (const name of now.filter((n) => !executedBefore.includes(n))) await storage.unlogMigration({ name, context });
      for (const name of executedBefore.filter((n) => !now.includes(n))) await storage.logMigration({ name, context });
    },
  };
}
