import type { Knex } from 'knex';
import { Umzug, type RunnableMigration, type UmzugStorage } from 'umzug';
import type { Engine } from '../engines/contract.ts';
import type { MigrationHistory } from '../history/contract.ts';
import type { Executor } from './executor.ts';
import { isTransactional, loadScript, type MigrationArgument } from './load-script.ts';
import type { MigrationFile } from './migration-files.ts';
import { runSqlFile } from './sql-file.ts';

export type Direction = 'up' | 'down';

export interface StepObserver {
  /** Before a migration's transaction opens (a dry run starts capturing here, so it sees BEGIN). */
  readonly beforeStep?: (name: string) => Promise<void> | void;
  /**
   * After the migration's own work, failed or not, inside its transaction and before its history
   * row: `db` is what the migration wrote through, so reading it sees the uncommitted result.
   */
  readonly afterStep?: (name: string, db: Knex) => Promise<void> | void;
}

export interface MigratorOptions {
  readonly engine: Pick<Engine, 'reader' | 'splitSql' | 'runSqlStatement' | 'statementFailure'>;
  readonly history: MigrationHistory;
  readonly files: readonly MigrationFile[];
  readonly executor: Executor;
  readonly observer?: StepObserver;
}

/**
 * The umzug instance for a migrations folder: `.ts`/`.js` modules exporting `up({ context })`
 * (context is the Knex instance the executor gives) and `.sql` files with an optional `.down.sql`.
 * Each step writes its own history row through the same executor, so umzug's storage only reads.
 */
export function createMigrator(options: MigratorOptions): Umzug<Knex> {
  const { history, executor, observer } = options;
  const recorder = history.recorder();
  const migrations: RunnableMigration<Knex>[] = options.files.map((file) => {
    const run = (direction: Direction) => async (): Promise<void> => {
      await observer?.beforeStep?.(file.name);
      const transactional = await isTransactional(file);
      await executor.step(transactional, async (db) => {
        const started = performance.now();
        try {
          await runMigrationStep(db, file, direction, options.engine);
        } catch (error) {
          // What the observer reads after a failed step (on PostgreSQL, in an aborted transaction,
          // where every read fails) never hides why the step failed.
          await Promise.resolve(observer?.afterStep?.(file.name, db)).catch(() => undefined);
          throw error;
        }
        await observer?.afterStep?.(file.name, db);
        const durationMs = Math.round(performance.now() - started);
        if (direction === 'up') await recorder.record(db, { name: file.name, checksum: file.checksum, durationMs });
        else await recorder.forget(db, file.name);
      });
    };
    return { name: file.name, path: file.path, up: run('up'), down: run('down') };
  });
  const storage: UmzugStorage<Knex> = {
    // Recorded by each step, inside its transaction.
    logMigration: async () => undefined,
    unlogMigration: async () => undefined,
    executed: async () => (await history.applied(options.engine.reader(executor.reads))).map((migration) => migration.name),
  };
  // umzug calls a function-valued context to get the context; a Knex instance is a function.
  return new Umzug<Knex>({ migrations, context: () => executor.reads, storage, logger: undefined });
}

async function runMigrationStep(db: Knex, file: MigrationFile, direction: Direction, engine: MigratorOptions['engine']): Promise<void> {
  if (file.format === 'sql') {
    const sqlFile = direction === 'up' ? file.path : file.downPath;
    if (!sqlFile) throw new Error(`${file.name} has no ${file.name}.down.sql`);
    await runSqlFile(db, engine, sqlFile);
    return;
  }
  const script = await loadScript(file);
  const fn = script[direction];
  if (typeof fn !== 'function') throw new Error(`${file.name} does not export ${direction}()`);
  await fn(migrationArgument(db, file));
}

/**
 * One argument that both signatures accept: knex's `up(knex)` uses it as the Knex instance (a
 * function with `schema`, `raw`, …), umzug's `up({ context, name, path })` destructures it. A
 * proxy, not a copy: a Knex instance is a function whose `name` cannot be reassigned, and a
 * transaction must stay the same object for knex to keep using its connection.
 */
function migrationArgument(db: Knex, file: MigrationFile): MigrationArgument {
  const extra: Readonly<Record<string, unknown>> = { context: db, name: file.name, path: file.path };
  return new Proxy(db, {
    // Read from the real instance (not through the proxy), so knex's own getters see themselves.
    get: (target, property) => (typeof property === 'string' && property in extra ? extra[property] : Reflect.get(target, property)),
    has: (target, property) => (typeof property === 'string' && property in extra) || Reflect.has(target, property),
  }) as MigrationArgument;
}
