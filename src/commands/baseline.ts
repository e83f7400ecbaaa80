import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBackup } from '../backup/create.ts';
import { folderSettings, type MigrationsSettings } from '../config/locations.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine, Reader, EngineKind } from '../engines/contract.ts';
import { requireDatabase } from '../engines/require-database.ts';
import { engineFor } from '../engines/select.ts';
import { GuardError, messageOf } from '../errors.ts';
import { waitsOf, type EventListener } from '../events.ts';
import type { MigrationHistory } from '../history/contract.ts';
import { guardTableHistory, MIGRATIONS_TABLE } from '../history/guard-table.ts';
import { readHistory } from '../history/read.ts';
import { recordedMigrations, resolveHistory } from '../history/select.ts';
import { transactionPerMigration } from '../migrator/executor.ts';
import { checkMigrations } from '../migrator/load-script.ts';
import { listMigrationFiles, type MigrationFile } from '../migrator/migration-files.ts';
import { filesOf } from '../rollout/run.ts';
import { planUp } from '../rollout/select-migrations.ts';

export interface BaselineOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly migrationsDir: string;
  readonly migrations?: MigrationsSettings;
  readonly backupDir: string;
  /** The last migration the database already has, by name. */
  readonly to: string;
  /** A config naming a project Umzug is refused: that Umzug keeps its own history. */
  readonly config?: Pick<ResolvedConfig, 'umzug'>;
  readonly onEvent?: EventListener;
}

export interface BaselineReport {
  readonly command: 'baseline';
  readonly ok: true;
  readonly exitCode: 0;
  readonly database: string;
  /** The migrations now recorded as applied, without having run. */
  readonly baselined: readonly string[];
  /** Tables those migrations create, each found in the database. */
  readonly tables: readonly string[];
  /** The verified backup taken before the history was written. */
  readonly backup: string;
}

/**
 * Adopting a database that has no history (Flyway's `baseline`): the migrations up to `to` are
 * recorded as applied without running. What they would create is learned by running them on an
 * empty scratch database; every table (and column) they create must already be in the live
 * database, or nothing is recorded. Refused when any history exists.
 */
export async function runBaseline(options: BaselineOptions): Promise<BaselineReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  await requireDatabase(engine);
  if (options.config?.umzug)
    throw new GuardError('USAGE', `baseline records migration files; the project Umzug (${options.config.umzug}) keeps its own history`);
  const settings = options.migrations ?? folderSettings(options.migrationsDir);
  const history = await resolveHistory(engine, settings);
  const source = filesOf(settings, history);
  const files = await listMigrationFiles(source.layout, source.naming);
  const lock = await engine.lock('baseline');
  try {
    await engine.settle({ write: true, onWait: waitsOf(emit) });
    const applied = await readHistory(engine, history);
    if (applied.length > 0) {
      throw new GuardError(
        'USAGE',
        `${engine.name} already has a migration history (${applied.length} applied in ${history.table}); baseline is for a database without one`,
      );
    }
    const names = planUp(
      files.map((file) => file.name),
      [],
      { to: options.to },
    );
    const targets = files.filter((file) => names.includes(file.name));
    // A mistake in one of them is named before the scratch run and the backup.
    await checkMigrations(targets, 'up');
    emit({ type: 'step', message: `learning what ${targets.length} migration(s) create, on an empty scratch database` });
    const expected = await schemaCreatedBy(engine, targets);
    const missing = await engine.read('readonly', (reader) => missingFrom(engine, reader, expected));
    if (missing.length > 0) {
      throw new GuardError(
        'PREFLIGHT_FAILED',
        `${engine.name} does not have what the migrations up to ${options.to} create: ${missing.join('; ')}; nothing was recorded`,
      );
    }
    const backup = await createBackup({
      engine,
      applied: recordedMigrations(engine),
      backupDir: path.resolve(options.backupDir),
      kind: 'manual',
    });
    emit({ type: 'step', message: `verified backup ${backup.file}; recording ${targets.length} migration(s) as applied` });
    await record(engine, history, targets);
    return {
      command: 'baseline',
      ok: true,
      exitCode: 0,
      database: engine.name,
      baselined: names,
      tables: [...expected.keys()],
      backup: backup.file,
    };
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/** Tables (with their columns) the migrations create on an empty database, history tables aside. */
async function schemaCreatedBy(engine: Engine, files: readonly MigrationFile[]): Promise<Map<string, string[]>> {
  const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-baseline-'));
  try {
    const empty = await engine.scratch(folder);
    const scratch = empty.engine;
    const handle = await scratch.openKnex();
    try {
      const { createMigrator } = await import('../migrator/umzug.ts');
      const umzug = createMigrator({
        engine: scratch,
        history: guardTableHistory(scratch),
        files,
        executor: transactionPerMigration(handle.knex),
      });
      try {
        await umzug.up();
      } catch (error) {
        const cause = (error as { cause?: unknown }).cause ?? error;
        throw new GuardError(
          'PREFLIGHT_FAILED',
          `the migrations could not be rehearsed on an empty database to learn what they create: ${messageOf(cause)}; nothing was recorded`,
          { cause: error },
        );
      }
      const reader = scratch.reader(handle.knex);
      const created = new Map<string, string[]>();
      for (const table of await scratch.listTables(reader)) {
        // The scratch run records into our own table; it is bookkeeping, not the application's.
        if (table === MIGRATIONS_TABLE) continue;
        created.set(table, await scratch.columns(reader, table));
      }
      return created;
    } finally {
      await handle.destroy();
      await empty.drop();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function missingFrom(engine: Engine, reader: Reader, expected: ReadonlyMap<string, readonly string[]>): Promise<string[]> {
  const tables = await engine.listTables(reader);
  const missing: string[] = [];
  for (const [table, columns] of expected) {
    if (!tables.includes(table)) {
      missing.push(`table ${table}`);
      continue;
    }
    const present = await engine.columns(reader, table);
    const absent = columns.filter((column) => !present.includes(column));
    if (absent.length > 0) missing.push(`${table}.${absent.join(`, ${table}.`)}`);
  }
  return missing;
}

/** The history rows, in one transaction: all of them or none. */
async function record(engine: Engine, history: MigrationHistory, files: readonly MigrationFile[]): Promise<void> {
  const handle = await engine.openKnex();
  try {
    const recorder = history.recorder();
    await handle.knex.transaction(async (trx) => {
      for (const file of files) await recorder.record(trx, { name: file.name, checksum: file.checksum, durationMs: 0 });
    });
  } finally {
    await handle.destroy();
  }
}
