/**
 * What must hold after every case, whatever was killed, filled or raced:
 *
 *  - the database opens (as the application would open it: read-write, so a dead writer's hot
 *    journal is rolled back), `integrity_check` is exactly `ok`, `foreign_key_check` is empty;
 *  - its content (schema + rows, without the writer's tables) is the state before the command
 *    or the state the command meant to produce;
 *  - every row the writer saw committed is there, or, where a restore removed it, in a
 *    pre-restore copy; the writer's two tables agree (no torn transaction);
 *  - every backup `backups --json` lists is verified (nothing half-written is listed) and passes
 *    `verify`;
 *  - the next `migrate` succeeds, and leaves no journal behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Case } from './case.ts';
import { contentHash, withDb } from './db.ts';
import type { Cli, Place } from './proc.ts';
import { committedTags } from './writer.ts';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Backups proven once (by the real `verify`) when the templates were built: their bytes need no second run. */
export const knownGoodBackups = new Set<string>();

export interface CheckOptions {
  readonly cli: Cli;
  /** Where the checker's own CLI runs put their scratch files (not on a full disk). */
  readonly checkerPlace: Place;
  /** A label for the moment (after the command, after recovery). */
  readonly stage: string;
}

/** The database's own health and content; returns the content hash (null when it cannot be read). */
/** `allowed` null: the content is not judged at this stage (after an exit 3, until the recovery). */
export async function checkDatabase(
  kase: Case,
  stage: string,
  allowed: ReadonlyMap<string, string> | null = kase.allowed,
): Promise<string | null> {
  const { db } = kase.project;
  try {
    return await withDb(db, 'readwrite', async (connection) => {
      const integrity = await connection.all<{ integrity_check: string }>('PRAGMA integrity_check');
      if (integrity.length !== 1 || integrity[0]?.integrity_check !== 'ok') {
        kase.violate('integrity_check is ok', `${stage}: ${JSON.stringify(integrity.slice(0, 5))}`);
      }
      const foreignKeys = await connection.all('PRAGMA foreign_key_check');
      if (foreignKeys.length > 0)
        kase.violate(
          'foreign_key_check is empty',
          `${stage}: ${foreignKeys.length} rows, first ${JSON.stringify(foreignKeys.slice(0, 3))}`,
        );
      const hash = await contentHash(connection);
      const named = allowed === null || [...allowed].some(([, value]) => value === hash);
      if (!named) {
        kase.violate(
          'content is the state before or the state the command meant to produce',
          `${stage}: content ${hash} is none of ${[...allowed].map(([name, value]) => `${name} ${value}`).join(', ')}; ${await describeState(connection)}`,
        );
      }
      await checkWriterRows(kase, stage, connection);
      return hash;
    });
  } catch (error) {
    kase.violate('the database opens', `${stage}: ${(error as Error).message}`);
    return null;
  }
}

/** A few facts that tell a wrong state at a glance: applied migrations, tables, row counts. */
async function describeState(connection: Parameters<typeof contentHash>[0]): Promise<string> {
  const applied = await connection.all<{ name: string }>('SELECT name FROM migrate_guard_migrations ORDER BY name').catch(() => []);
  const tables = await connection.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  const counts: string[] = [];
  for (const { name } of tables) {
    const [row] = await connection.all<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`);
    counts.push(`${name}=${row?.n}`);
  }
  const columns = await connection.all<{ name: string }>("SELECT name FROM pragma_table_info('orders')");
  return `applied [${applied.map((row) => row.name).join(' ')}], rows ${counts.join(' ')}, orders columns ${columns.map((c) => c.name).join(',')}`;
}

/**
 * Every tag the writer saw committed is in `ledger`, or (when a restore ran in this case) in a
 * pre-restore copy; `ledger` and `journal_entries` hold the same tags (one transaction each).
 */
async function checkWriterRows(kase: Case, stage: string, connection: Parameters<typeof contentHash>[0]): Promise<void> {
  const torn = await connection.all<{ tag: string }>(
    'SELECT tag FROM ledger WHERE tag NOT IN (SELECT tag FROM journal_entries) UNION ALL SELECT tag FROM journal_entries WHERE tag NOT IN (SELECT tag FROM ledger) LIMIT 5',
  );
  if (torn.length > 0)
    kase.violate("the writer's transactions are whole", `${stage}: tags in one table only: ${torn.map((row) => row.tag).join(', ')}`);
  if (kase.idsFile === null) return;
  const seen = await committedTags(kase.idsFile);
  if (seen.length === 0) return;
  const present = new Set((await connection.all<{ tag: string }>('SELECT tag FROM ledger')).map((row) => row.tag));
  let missing = seen.filter((tag) => !present.has(tag));
  if (missing.length === 0) return;
  const copies = await preRestoreCopies(kase.project.db);
  const inCopies = new Set<string>();
  for (const copy of copies) {
    const tags = await withDb(copy, 'readonly', (db) => db.all<{ tag: string }>('SELECT tag FROM ledger')).catch(() => []);
    for (const { tag } of tags) inCopies.add(tag);
  }
  missing = missing.filter((tag) => !inCopies.has(tag));
  if (missing.length > 0) {
    const order = new Map(seen.map((tag, index) => [tag, index]));
    kase.violate(
      'committed rows survive',
      `${stage}: ${missing.length} of ${seen.length} rows the writer saw committed are neither in the database nor in a pre-restore copy (${copies.length} copies): ${missing
        .slice(0, 5)
        .map((tag) => `${tag} (#${order.get(tag)})`)
        .join(', ')}${missing.length > 5 ? ', …' : ''}`,
    );
  }
}

export async function preRestoreCopies(db: string): Promise<string[]> {
  const folder = path.dirname(db);
  const prefix = `${path.basename(db)}.pre-restore.`;
  return (await readdir(folder)).filter((name) => name.startsWith(prefix)).map((name) => path.join(folder, name));
}

/** `.name.tmp-<pid>` files (and their SQLite side files) anywhere under `folder`. */
export async function hiddenTemporaries(folder: string): Promise<{ file: string; bytes: number }[]> {
  const found: { file: string; bytes: number }[] = [];
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile() || !/^\..+\.tmp-\d+/.test(entry.name)) continue;
    const file = path.join(entry.parentPath, entry.name);
    found.push({ file, bytes: (await stat(file).catch(() => ({ size: 0 }))).size });
  }
  return found;
}

/**
 * `backups --json`: everything listed is verified (a half-written file must not look like a
 * backup), and every verified backup whose bytes were not proven before passes `verify`.
 */
export async function checkBackups(kase: Case, options: CheckOptions): Promise<void> {
  const { cli, checkerPlace, stage } = options;
  const place = { ...checkerPlace, project: kase.project };
  const { result, report } = await kase.run(cli, `backups (${stage})`, ['backups', '--json'], place);
  if (result.exitCode !== 0 || !report) {
    kase.violate('backups lists the backups', `${stage}: backups --json exited ${result.exitCode}`);
    return;
  }
  for (const entry of report.backups as { path: string; verified: boolean; kind: string }[]) {
    if (!entry.verified) {
      kase.violate('no partial or unverified file is listed', `${stage}: backups lists ${entry.path} (${entry.kind}) as not verified`);
      continue;
    }
    const sha = await sha256File(entry.path).catch(() => null);
    if (sha !== null && knownGoodBackups.has(sha)) continue;
    const verified = await kase.run(cli, `verify (${stage})`, ['verify', entry.path, '--json'], place);
    if (verified.result.exitCode !== 0) {
      const failed =
        (verified.report?.checks as { name: string; ok: boolean; detail: string }[] | undefined)?.filter((check) => !check.ok) ?? [];
      kase.violate(
        'every listed verified backup passes verify',
        `${stage}: verify ${entry.path} exited ${verified.result.exitCode}: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || verified.report?.error?.message || verified.result.stderr.slice(-300)}`,
      );
    } else if (sha !== null) {
      knownGoodBackups.add(sha);
    }
  }
  for (const leftover of await hiddenTemporaries(kase.project.backups)) {
    kase.notes.push(
      `${stage}: hidden temporary file left in the backup folder: ${path.relative(kase.project.backups, leftover.file)} (${leftover.bytes} bytes), not listed; prune removes it once ten minutes old`,
    );
  }
}

/**
 * The next `migrate` succeeds (it recovers whatever is left) and leaves no journal; then the
 * database must hold the content `expected` names.
 */
export async function checkNextMigrate(kase: Case, options: CheckOptions, expected: ReadonlyMap<string, string>): Promise<void> {
  const { cli, stage } = options;
  const { result, report } = await kase.run(cli, `next migrate (${stage})`, ['migrate', '--json']);
  if (result.exitCode !== 0) {
    kase.violate(
      'the next migrate succeeds',
      `${stage}: migrate exited ${result.exitCode}: ${report?.error?.message ?? report?.failed?.message ?? result.stderr.slice(-400)}`,
    );
  }
  if (await exists(journalOf(kase.project.db))) {
    kase.violate(
      'no journal is left after a migrate that ended',
      `${stage}: ${journalOf(kase.project.db)} is still there after migrate exited ${result.exitCode}`,
    );
  }
  await checkDatabase(kase, `after the next migrate (${stage})`, expected);
}

export function journalOf(db: string): string {
  return `${db}.migrate-guard.journal.json`;
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
