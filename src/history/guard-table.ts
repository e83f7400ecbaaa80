import type { Knex } from 'knex';
import type { Engine } from '../engines/contract.ts';
import type { AppliedMigration, HistoryEntry, MigrationHistory } from './contract.ts';

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
  return {
    table,
    inDatabase: true,
    async applied(reader): Promise<AppliedMigration[]> {
      if (!(await engine.listTables(reader)).includes(table)) return [];
      const rows = await reader.all<Row>(`SELECT name, checksum, applied_at, duration_ms FROM ${engine.quote(table)} ORDER BY name`);
      return rows.map((row) => ({ name: row.name, checksum: row.checksum, appliedAt: row.applied_at, durationMs: row.duration_ms }));
    },
    async record(db: Knex, entry: HistoryEntry) {
      if (!(await db.schema.hasTable(table))) {
        await db.schema.createTable(table, (columns) => {
          columns.string('name').primary();
          columns.string('checksum');
          columns.string('applied_at').notNullable();
          columns.integer('duration_ms');
        });
      }
      await db.queryBuilder<Row>().table(table).insert({
        name: entry.name,
        checksum: entry.checksum,
        applied_at: new Date().toISOString(),
        duration_ms: entry.durationMs,
      });
    },
    async forget(db: Knex, name: string) {
      if (await db.schema.hasTable(table)) await db.queryBuilder<Row>().table(table).where({ name }).delete();
    },
  };
}
