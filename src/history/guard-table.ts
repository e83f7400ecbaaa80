import type { Knex } from 'knex';
import type { Engine } from '../engines/contract.ts';
import type { AppliedMigration, MigrationHistory } from './contract.ts';

export const MIGRATIONS_TABLE = 'migrate_guard_migrations';

interface Row {
  name: string;
  checksum: string | null;
  applied_at: string;
  duration_ms: number | null;
}

/** migrate-guard's own history: `migrate_guard_migrations` (name, checksum, applied_at, duration_ms). */
export function guardTableHistory(engine: Pick<Engine, 'listTables' | 'quote'>): MigrationHistory {
  const table = MIGRATIONS_TABLE;
  const rows = (db: Knex) => db.queryBuilder<Row>().table(table);
  return {
    table,
    inDatabase: true,
    naming: 'base-name',
    async applied(reader): Promise<AppliedMigration[]> {
      if (!(await engine.listTables(reader)).includes(table)) return [];
      const found = await reader.all<Row>(`SELECT name, checksum, applied_at, duration_ms FROM ${engine.quote(table)} ORDER BY name`);
      return found.map((row) => ({ name: row.name, checksum: row.checksum, appliedAt: row.applied_at, durationMs: row.duration_ms }));
    },
    recorder: () => ({
      async record(db, entry) {
        if (!(await db.schema.hasTable(table))) {
          await db.schema.createTable(table, (columns) => {
            columns.string('name').primary();
            columns.string('checksum');
            columns.string('applied_at').notNullable();
            columns.integer('duration_ms');
          });
        }
        await rows(db).insert({
          name: entry.name,
          checksum: entry.checksum,
          applied_at: new Date().toISOString(),
          duration_ms: entry.durationMs,
        });
      },
      async forget(db, name) {
        if (await db.schema.hasTable(table)) await rows(db).where({ name }).delete();
      },
    }),
  };
}
