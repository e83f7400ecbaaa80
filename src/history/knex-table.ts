import type { Knex } from 'knex';
import type { Engine } from '../engines/contract.ts';
import { GuardError } from '../errors.ts';
import type { AppliedMigration, MigrationHistory } from './contract.ts';

export const KNEX_DEFAULT_TABLE = 'knex_migrations';

/** knex's default `loadExtensions`: which files a knex project counts as migrations. */
export const KNEX_LOAD_EXTENSIONS: readonly string[] = ['.co', '.coffee', '.eg', '.iced', '.js', '.cjs', '.litcoffee', '.ls', '.ts'];

/** Where our checksums of the migrations knex's table records are kept: beside it, never in it. */
export const KNEX_CHECKSUMS_TABLE = 'migrate_guard_checksums';

interface KnexRow {
  id: number;
  name: string;
  batch: number | null;
  migration_time: string | number | Date | null;
}

/**
 * knex's own history (`knex_migrations`, or the knexfile's `tableName`), kept exactly as knex
 * keeps it, so `knex migrate:status`, `migrate:rollback` and `migrate:latest` work before and
 * after migrate-guard, in either order: names are file names with their extension, a run is one
 * batch (`max(batch) + 1`), rows carry `migration_time`, and the run holds knex's lock row.
 * Checksums live in a table of ours beside it.
 */
export function knexTableHistory(engine: Pick<Engine, 'listTables' | 'quote'>, tableName: string): MigrationHistory {
  const table = tableName;
  const lockTable = `${tableName}_lock`;
  return {
    table,
    inDatabase: true,
    naming: 'file-name',
    async applied(reader): Promise<AppliedMigration[]> {
      const tables = await engine.listTables(reader);
      if (!tables.includes(table)) return [];
      const rows = await reader.all<KnexRow>(`SELECT id, name, batch, migration_time FROM ${engine.quote(table)} ORDER BY id`);
      // A checksum counts only for the very row it was recorded with: knex's rollback deletes its
      // row but not ours, and a later `knex migrate:latest` of an edited file is a new row.
      const checksums = new Map<string, { checksum: string | null; duration_ms: number | null; knex_id: number | null }>();
      if (tables.includes(KNEX_CHECKSUMS_TABLE)) {
        const kept = await reader.all<{ name: string; checksum: string | null; duration_ms: number | null; knex_id: number | null }>(
          `SELECT name, checksum, duration_ms, knex_id FROM ${engine.quote(KNEX_CHECKSUMS_TABLE)}`,
        );
        for (const row of kept) checksums.set(row.name, row);
      }
      return rows.map((row) => {
        const kept = checksums.get(row.name);
        const ours = kept !== undefined && kept.knex_id === row.id;
        return {
          name: row.name,
          checksum: ours ? kept.checksum : null,
          appliedAt: isoTime(row.migration_time),
          durationMs: ours ? kept.duration_ms : null,
          batch: row.batch,
        };
      });
    },
    recorder() {
      // One run is one batch, numbered when its first migration is recorded, as knex does.
      let batch: number | null = null;
      return {
        async record(db, entry) {
          await ensureKnexTables(db, table, lockTable);
          if (batch === null) {
            const [row] = (await db(table).max({ latest: 'batch' })) as { latest: number | null }[];
            batch = (row?.latest ?? 0) + 1;
          }
          // MySQL has no RETURNING (knex warns on stdout when asked): its insert gives the new id as it is.
          const row = { name: entry.name, batch, migration_time: new Date() };
          const mysql = /^mysql/.test(String((db.client as { dialect?: unknown }).dialect));
          const [inserted] = (await (mysql ? db(table).insert(row) : db(table).insert(row, ['id']))) as ({ id: number } | number)[];
          const knexId = typeof inserted === 'object' ? inserted.id : (inserted ?? null);
          await db(KNEX_CHECKSUMS_TABLE).where({ name: entry.name }).delete();
          await db(KNEX_CHECKSUMS_TABLE).insert({
            name: entry.name,
            checksum: entry.checksum,
            duration_ms: entry.durationMs,
            knex_id: knexId,
          });
        },
        async forget(db, name) {
          await db(table).where({ name }).delete();
          if (await db.schema.hasTable(KNEX_CHECKSUMS_TABLE)) await db(KNEX_CHECKSUMS_TABLE).where({ name }).delete();
        },
      };
    },
    async lock(db) {
      // No lock table: no knex has migrated this database, so none can be running against it.
      if (!(await db.schema.hasTable(lockTable))) return false;
      const taken = await db(lockTable).where('is_locked', 0).update({ is_locked: 1 });
      if (taken !== 1) {
        throw new GuardError(
          'LOCK_HELD',
          `knex's migration lock is held (${lockTable}.is_locked = 1): a knex migrate:latest may be running; wait for it, or if none is, run knex migrate:unlock`,
        );
      }
      return true;
    },
    async unlock(reader) {
      if ((await engine.listTables(reader)).includes(lockTable)) await reader.all(`UPDATE ${engine.quote(lockTable)} SET is_locked = 0`);
    },
  };
}

/** knex's tables as `knex migrate:latest` creates them, and ours beside them. */
async function ensureKnexTables(db: Knex, table: string, lockTable: string): Promise<void> {
  if (!(await db.schema.hasTable(table))) {
    await db.schema.createTable(table, (t) => {
      t.increments();
      t.string('name');
      t.integer('batch');
      t.timestamp('migration_time');
    });
  }
  if (!(await db.schema.hasTable(lockTable))) {
    await db.schema.createTable(lockTable, (t) => {
      t.increments('index').primary();
      t.integer('is_locked');
    });
  }
  if ((await db(lockTable).select('*')).length === 0) await db(lockTable).insert({ is_locked: 0 });
  if (!(await db.schema.hasTable(KNEX_CHECKSUMS_TABLE))) {
    await db.schema.createTable(KNEX_CHECKSUMS_TABLE, (t) => {
      t.string('name').primary();
      t.string('checksum');
      t.integer('duration_ms');
      // The knex row (its id) the checksum was recorded with.
      t.integer('knex_id');
    });
  }
}

/** knex stores `migration_time` as the driver gives a Date back: epoch milliseconds in SQLite. */
function isoTime(value: KnexRow['migration_time']): string {
  if (value === null) return '';
  const date =
    value instanceof Date ? value : new Date(typeof value === 'number' ? value : Number.isNaN(Number(value)) ? value : Number(value));
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}
