import path from 'node:path';
import { createBackup } from '../backup/create.ts';
import { describeViolation } from '../checks/foreign-keys.ts';
import type { Engine, Reader, EngineKind } from '../engines/contract.ts';
import { requireDatabase } from '../engines/require-database.ts';
import { backupOwner, refuseOtherDatabase } from '../backup/identity.ts';
import { engineFor } from '../engines/select.ts';
import { waitsOf, type EventListener } from '../events.ts';
import { GuardError, type ExitCode } from '../errors.ts';
import { recordedMigrations } from '../history/select.ts';
import { prepareBackup } from '../restore/prepare.ts';

export interface RestoreTableOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly backupDir: string;
  readonly backup: string;
  readonly table: string;
  /** Replace the live table's rows instead of writing SQL. */
  readonly apply?: boolean;
  readonly out?: string;
  /** Apply a backup taken from another database (`--from-other-database`); refused otherwise. */
  readonly fromOtherDatabase?: boolean;
  /** Apply even when the result has foreign-key violations. */
  readonly force?: boolean;
  readonly cwd?: string;
  /** Events of the wait for a busy database. */
  readonly onEvent?: EventListener;
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
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  const applied = recordedMigrations(engine);
  const prepared = await prepareBackup(engine, applied, path.resolve(options.backup));
  try {
    const base = { command: 'restore-table' as const, table: options.table, backup: prepared.file };
    const wanted = await engine.readSnapshot(prepared.source, (reader) =>
      requireColumns(engine, reader, options.table, `backup ${prepared.file}`),
    );
    if (!options.apply) {
      const out = path.resolve(
        options.cwd ?? process.cwd(),
        options.out ?? `${fileNamePart(options.table)}-from-${fileNamePart(path.basename(prepared.file).replace(/\.db(\.gz)?$/, ''))}.sql`,
      );
      const rows = await engine.exportTable(
        prepared.source,
        options.table,
        out,
        [
          `migrate-guard restore-table: the rows of ${JSON.stringify(options.table)} from ${commentText(prepared.file)}`,
          `backup taken ${prepared.manifest?.createdAt ?? 'at an unknown time (no manifest)'}; exported ${new Date().toISOString()}`,
          'Review before running. It only inserts: delete the rows you want replaced first.',
        ],
        await engine.fileMode(),
      );
      return { ...base, ok: true, exitCode: 0, mode: 'export', rows, out, preRestoreBackup: null, violations: [] };
    }

    await requireDatabase(engine);
    // Exporting another database's rows is only reading a file; putting them into this database is not.
    await refuseOtherDatabase(
      prepared.file,
      await backupOwner(engine),
      options.fromOtherDatabase === true,
      options.onEvent ?? (() => undefined),
    );
    const lock = await engine.lock('restore-table');
    try {
      await engine.settle({ write: true, ...(options.onEvent ? { onWait: waitsOf(options.onEvent) } : {}) });
      const current = await engine.read('readonly', (reader) =>
        requireColumns(engine, reader, options.table, `the live database ${engine.name}`),
      );
      const onlyBackup = wanted.filter((column) => !current.includes(column));
      const onlyLive = current.filter((column) => !wanted.includes(column));
      if (onlyBackup.length > 0 || onlyLive.length > 0) {
        throw new GuardError(
          'USAGE',
          `the columns of ${options.table} differ: only in the backup: ${onlyBackup.join(', ') || '-'}; only in the live database: ${onlyLive.join(', ') || '-'}; nothing was changed`,
        );
      }
      // As for any change: a verified backup first.
      const safety = await createBackup({ engine, applied, backupDir: path.resolve(options.backupDir), kind: 'manual' });
      const replaced = await engine.replaceTable(prepared.source, options.table, options.force === true);
      const violations = replaced.violations.map(describeViolation);
      return {
        ...base,
        ok: replaced.committed,
        exitCode: replaced.committed ? 0 : 1,
        mode: 'apply',
        rows: replaced.rows,
        out: null,
        preRestoreBackup: safety.file,
        violations,
      };
    } finally {
      await lock.release().catch(() => undefined);
    }
  } finally {
    await prepared.release();
  }
}

/**
 * A name as part of the default output file's name: a table may be called `../../x`, and the
 * file must still land in the working folder, so separators and control characters become `_`.
 */
function fileNamePart(name: string): string {
  // Control characters are what this removes: the regex names them on purpose.
  // eslint-disable-next-line no-control-regex
  return name.replace(/[/\\\x00-\x1f\x7f]/g, '_');
}

/**
 * Text for a `-- ` comment line of the generated SQL: a backup's file name can hold a newline, and
 * whatever follows it would be a statement of its own when the file is run. Control characters
 * are written as `\uXXXX`.
 */
function commentText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The table's columns, in order; a name that is not a table is refused with the list of tables. */
async function requireColumns(
  engine: Pick<Engine, 'listTables' | 'columns'>,
  reader: Reader,
  table: string,
  where: string,
): Promise<string[]> {
  const tables = await engine.listTables(reader);
  if (!tables.includes(table)) {
    throw new GuardError('USAGE', `no table ${JSON.stringify(table)} in ${where}; its tables are: ${tables.join(', ') || 'none'}`);
  }
  return engine.columns(reader, table);
}
