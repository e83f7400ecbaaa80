import path from 'node:path';
import { createBackup } from '../backup/create.ts';
import { assertSqliteFile, quoteIdentifier, SqliteConnection } from '../db.ts';
import { GuardError, type ExitCode } from '../errors.ts';
import { acquireLock } from '../lock.ts';
import { prepareBackup } from '../restore/full.ts';
import { exportTableSql, tableColumns } from '../restore/table.ts';

export interface RestoreTableOptions {
  readonly database: string;
  readonly backupDir: string;
  readonly backup: string;
  readonly table: string;
  /** Replace the live table's rows instead of writing SQL. */
  readonly apply?: boolean;
  readonly out?: string;
  /** Apply even when the result has foreign-key violations. */
  readonly force?: boolean;
  readonly cwd?: string;
}

export interface RestoreTableReport {
  readonly command: 'restore-table';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly mode: 'export' | 'apply';
  readonly table: string;
  readonly backup: string;
  readonly rows: number;
  readonly out: string | null;
  /** The verified manual backup taken before --apply changed anything. */
  readonly preRestoreBackup: string | null;
  readonly violations: readonly string[];
}

/**
 * Selective restore of one table. By default its rows from the backup become a reviewable SQL
 * file; with --apply they replace the live table's rows in one transaction, after a verified
 * backup, rolled back when the result breaks a foreign key (unless --force).
 */
export async function runRestoreTable(options: RestoreTableOptions): Promise<RestoreTableReport> {
  const prepared = await prepareBackup(path.resolve(options.backup));
  try {
    const base = { command: 'restore-table' as const, table: options.table, backup: prepared.file };
    if (!options.apply) {
      const source = await SqliteConnection.open(prepared.source, 'readonly');
      try {
        const columns = await tableColumns(source, 'main', options.table, `backup ${prepared.file}`);
        const out = path.resolve(options.cwd ?? process.cwd(), options.out ?? `${options.table}-from-${path.basename(prepared.file).replace(/\.db(\.gz)?$/, '')}.sql`);
        const rows = await exportTableSql(source, options.table, columns, out, [
          `migrate-guard restore-table: the rows of ${JSON.stringify(options.table)} from ${prepared.file}`,
          `backup taken ${prepared.manifest?.createdAt ?? 'at an unknown time (no manifest)'}; exported ${new Date().toISOString()}`,
          'Review before running. It only inserts: delete the rows you want replaced first.',
        ]);
        return { ...base, ok: true, exitCode: 0, mode: 'export', rows, out, preRestoreBackup: null, violations: [] };
      } finally {
        await source.close();
      }
    }

    const database = path.resolve(options.database);
    await assertSqliteFile(database);
    const lock = await acquireLock(database, 'restore-table');
    const live = await SqliteConnection.open(database, 'readwrite');
    try {
      live.setBusyTimeout(30_000);
      await live.all('ATTACH DATABASE ? AS restore_source', [prepared.source]);
      try {
        const wanted = await tableColumns(live, 'restore_source', options.table, `backup ${prepared.file}`);
        const current = await tableColumns(live, 'main', options.table, `the live database ${database}`);
        const onlyBackup = wanted.filter((column) => !current.includes(column));
        const onlyLive = current.filter((column) => !wanted.includes(column));
        if (onlyBackup.length > 0 || onlyLive.length > 0) {
          throw new GuardError(
            'USAGE',
            `the columns of ${options.table} differ: only in the backup: ${onlyBackup.join(', ') || '-'}; only in the live database: ${onlyLive.join(', ') || '-'}; nothing was changed`,
          );
        }
        // As for any change: a verified backup first.
        const safety = await createBackup({ database, backupDir: path.resolve(options.backupDir), kind: 'manual' });
        const table = quoteIdentifier(options.table);
        const columns = wanted.map(quoteIdentifier).join(', ');
        await live.exec('BEGIN IMMEDIATE');
        let rows = 0;
        try {
          await live.exec(`DELETE FROM main.${table}`);
          await live.exec(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM restore_source.${table}`);
          rows = (await live.get<{ n: number }>(`SELECT COUNT(*) AS n FROM main.${table}`))?.n ?? 0;
          const violations = (await live.all<{ table: string; rowid: number | null; parent: string }>('PRAGMA main.foreign_key_check'))
            .filter((row) => row.table === options.table || row.parent === options.table)
            .map((row) => `${row.table} rowid ${row.rowid ?? '?'} references a missing ${row.parent} row`);
          if (violations.length > 0 && !options.force) {
            await live.exec('ROLLBACK');
            return { ...base, ok: false, exitCode: 1, mode: 'apply', rows: 0, out: null, preRestoreBackup: safety.file, violations };
          }
          await live.exec('COMMIT');
          return { ...base, ok: true, exitCode: 0, mode: 'apply', rows, out: null, preRestoreBackup: safety.file, violations };
        } catch (error) {
          await live.exec('ROLLBACK').catch(() => undefined);
          throw error;
        }
      } finally {
        await live.exec('DETACH DATABASE restore_source').catch(() => undefined);
      }
    } finally {
      await live.close();
      await lock.release().catch(() => undefined);
    }
  } finally {
    await prepared.release();
  }
}
