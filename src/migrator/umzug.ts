import { readFile } from 'node:fs/promises';
import type { Knex } from 'knex';
import type sqlite3 from 'sqlite3';
import { Umzug, type RunnableMigration } from 'umzug';
import { KnexStorage } from './knex-storage.ts';
import { loadScript } from './load-script.ts';
import { splitSqlStatements } from './sql-split.ts';
import { listMigrationFiles, type MigrationFile } from './migration-files.ts';

export interface MigratorOptions {
  /** Called around each migration's own work (not the storage bookkeeping): a dry run captures there. */
  readonly beforeStep?: (name: string) => Promise<void> | void;
  readonly afterStep?: (name: string) => Promise<void> | void;
  /** Each statement of a `.sql` migration as it is about to run (knex queries emit `query`). */
  readonly onSqlStatement?: (sql: string) => void;
}

export interface Migrator {
  readonly umzug: Umzug<Knex>;
  readonly storage: KnexStorage;
  readonly files: readonly MigrationFile[];
}

/**
 * The umzug instance for a migrations folder: `.ts`/`.js` modules exporting `up({ context })`
 * (context is the Knex instance) and `.sql` files with an optional `.down.sql`. Each migration
 * runs in its own transaction unless it opts out; SQLite cannot change `PRAGMA foreign_keys`
 * inside one, which is why knex's migrator offers the same opt-out.
 */
export async function createMigrator(knex: Knex, migrationsDir: string, options: MigratorOptions = {}): Promise<Migrator> {
  const files = await listMigrationFiles(migrationsDir);
  const storage = new KnexStorage(knex);
  const migrations: RunnableMigration<Knex>[] = files.map((file) => {
    const timed =
      (fn: () => Promise<unknown>) =>
      async (): Promise<void> => {
        await options.beforeStep?.(file.name);
        const started = performance.now();
        try {
          await fn();
        } finally {
          await options.afterStep?.(file.name);
        }
        storage.runInfo.set(file.name, { checksum: file.checksum, durationMs: Math.round(performance.now() - started) });
      };
    return {
      name: file.name,
      path: file.path,
      up: timed(() => runMigrationStep(knex, file, 'up', options.onSqlStatement)),
      down: timed(() => runMigrationStep(knex, file, 'down', options.onSqlStatement)),
    };
  });
  // umzug calls a function-valued context to get the context; a Knex instance is a function.
  const umzug = new Umzug<Knex>({ migrations, context: () => knex, storage, logger: undefined });
  return { umzug, storage, files };
}

async function runMigrationStep(
  knex: Knex,
  file: MigrationFile,
  direction: 'up' | 'down',
  onStatement: ((sql: string) => void) | undefined,
): Promise<void> {
  if (file.format === 'sql') {
    const sqlFile = direction === 'up' ? file.path : file.downPath;
    if (!sqlFile) throw new Error(`${file.name} has no ${file.name}.down.sql`);
    await execSqlFile(knex, splitSqlStatements(await readFile(sqlFile, 'utf8')), onStatement);
    return;
  }
  const script = await loadScript(file.path);
  const fn = script[direction];
  if (typeof fn !== 'function') throw new Error(`${file.name} does not export ${direction}()`);
  const params = (context: Knex) => ({ context, name: file.name, path: file.path });
  if (script.config?.transaction === false) {
    await fn(params(knex));
    return;
  }
  await knex.transaction(async (trx) => {
    await fn(params(trx));
  });
}

/**
 * A `.sql` migration runs statement by statement on the pool's connection, inside one
 * transaction: the same statement list a dry run shows is what runs.
 */
async function execSqlFile(knex: Knex, statements: readonly string[], onStatement: ((sql: string) => void) | undefined): Promise<void> {
  const client = knex.client as {
    acquireConnection(): Promise<sqlite3.Database>;
    releaseConnection(connection: sqlite3.Database): Promise<void>;
  };
  const connection = await client.acquireConnection();
  const exec = (text: string) =>
    new Promise<void>((resolve, reject) => connection.exec(text, (error) => (error ? reject(error) : resolve())));
  try {
    onStatement?.('BEGIN');
    await exec('BEGIN');
    try {
      for (const statement of statements) {
        onStatement?.(statement);
        await exec(statement);
      }
      onStatement?.('COMMIT');
      await exec('COMMIT');
    } catch (error) {
      await exec('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    await client.releaseConnection(connection);
  }
}
