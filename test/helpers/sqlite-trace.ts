import type { Knex } from 'knex';
import type sqlite3 from 'sqlite3';
import { openKnex } from '../../src/engines/sqlite/knex.ts';
import { resolveConfig, runMigrate } from '../../src/index.ts';
import type { GuardConfig, MigrateReport } from '../../src/index.ts';
import type { TempProject } from './project.ts';

/**
 * Every statement SQLite ran for `work` on the migration connection to `file` (the product's own
 * knex instance, one pooled connection), as SQLite's trace reports them: the text the run's write
 * set classifies, in order.
 */
export async function traceKnex(file: string, work: (knex: Knex) => Promise<void>): Promise<string[]> {
  const statements: string[] = [];
  const handle = openKnex(file);
  try {
    const connection = (await handle.knex.client.acquireConnection()) as sqlite3.Database;
    connection.on('trace', (sql: string) => statements.push(sql));
    await handle.knex.client.releaseConnection(connection);
    await work(handle.knex);
  } finally {
    await handle.destroy();
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
