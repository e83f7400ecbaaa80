import knexFactory, { type Knex } from 'knex';
import type sqlite3 from 'sqlite3';
import { resolveConfig, runMigrate } from '../../src/index.ts';
import type { GuardConfig, MigrateReport } from '../../src/index.ts';
import type { TempProject } from './project.ts';

/**
 * Every statement SQLite ran for `work` on a knex connection to `file`, as its trace reports them
 * (the text the migration connection's write set classifies), in order.
 */
export async function traceKnex(file: string, work: (knex: Knex) => Promise<void>): Promise<string[]> {
  const statements: string[] = [];
  const knex = knexFactory({
    client: 'sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (connection: sqlite3.Database, done: (error: Error | null, connection: unknown) => void) => {
        connection.on('trace', (sql: string) => statements.push(sql));
        done(null, connection);
      },
    },
  });
  try {
    await work(knex);
  } finally {
    await knex.destroy();
  }
  // The trace arrives on the event loop after the statement's own callback: let the last one in.
  await new Promise((resolve) => setTimeout(resolve, 20));
  return statements;
}

/** `migrate` through the library on a temp project, with the default config unless one is given. */
export function migrateProject(project: TempProject, config: GuardConfig = {}): Promise<MigrateReport> {
  return runMigrate({
    database: project.db,
    migrationsDir: project.migrations,
    backupDir: project.backups,
    config: resolveConfig(config),
    createIfMissing: true,
    cwd: project.dir,
  });
}

/** The tables the full integrity check of a report proved one by one, or null when it took the whole file. */
export function provenTables(report: Pick<MigrateReport, 'checks'>): string[] | null {
  const integrity = report.checks.find((check) => check.name.startsWith('integrity'));
  if (!integrity) throw new Error(`no integrity check in ${JSON.stringify(report.checks)}`);
  const match = /integrity_check of what the run wrote: (.*)\)$/.exec(integrity.detail);
  if (!match) return null;
  return match[1] === 'no table' ? [] : match[1]!.split(', ');
}
