import type { Knex } from 'knex';
import type { UmzugStorage } from 'umzug';
import type { AppliedMigration, ChecksummedStorage } from './contract.ts';

export const MIGRATIONS_TABLE = 'migrate_guard_migrations';

interface Row {
  name: string;
  checksum: string | null;
  applied_at: string;
  duration_ms: number | null;
}

/**
 * umzug storage in the database itself, so the record of what ran is restored together with the
 * data. Reading never creates the table: a preview or `status` must not write.
 */
export class KnexStorage implements UmzugStorage<Knex>, ChecksummedStorage {
  /** Filled by the migration runner as each migration finishes; read when umzug logs it. */
  readonly runInfo = new Map<string, { checksum: string | null; durationMs: number }>();

  constructor(private readonly knex: Knex) {}

  // `this.knex(name)` would call knex with the storage as `this`; knex needs itself there.
  private table() {
    return this.knex.queryBuilder<Row>().table(MIGRATIONS_TABLE);
  }

  private async hasTable(): Promise<boolean> {
    return this.knex.schema.hasTable(MIGRATIONS_TABLE);
  }

  async logMigration({ name }: { name: string }): Promise<void> {
    if (!(await this.hasTable())) {
      await this.knex.schema.createTable(MIGRATIONS_TABLE, (table) => {
        table.string('name').primary();
        table.string('checksum');
        table.string('applied_at').notNullable();
        table.integer('duration_ms');
      });
    }
    const info = this.runInfo.get(name);
    await this.table().insert({
      name,
      checksum: info?.checksum ?? null,
      applied_at: new Date().toISOString(),
      duration_ms: info?.durationMs ?? null,
    });
  }

  async unlogMigration({ name }: { name: string }): Promise<void> {
    if (await this.hasTable()) await this.table().where({ name }).delete();
  }

  async executed(): Promise<string[]> {
    return (await this.applied()).map((migration) => migration.name);
  }

  async applied(): Promise<AppliedMigration[]> {
    if (!(await this.hasTable())) return [];
    const rows = await this.table().select('*').orderBy('name');
    return rows.map((row) => ({
      name: row.name,
      checksum: row.checksum,
      appliedAt: row.applied_at,
      durationMs: row.duration_ms,
    }));
  }
}
