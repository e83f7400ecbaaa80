/**
 * What must hold after every case, whatever was killed, filled or raced:
 *
 *  - the database opens (SQLite: as the application would open it, read-write, so a dead
 *    writer's hot journal is rolled back), and its engine's own checks pass (SQLite:
 *    `integrity_check` is exactly `ok`, `foreign_key_check` is empty; PostgreSQL: no invalid
 *    index, no NOT VALID constraint, no row breaking a foreign key);
 *  - its content (schema + rows, without the writer's tables) is the state before the command
 *    or the state the command meant to produce;
 *  - every row the writer saw committed is there, or, where a restore removed it, in a
 *    pre-restore copy; the writer's two tables agree (no torn transaction);
 *  - every backup `backups --json` lists is verified (nothing half-written is listed) and passes
 *    `verify`;
 *  - the next `migrate` succeeds, and leaves no journal behind; nothing is left on the server
 *    (PostgreSQL: no scratch database of a case's process, no advisory lock, no session).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Case } from './case.ts';
import type { Inspection } from './engine.ts';
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

/**
 * The database's own health and content, read by the engine's oracle; returns the content hash
 * (null when it cannot be read). `allowed` null: the content is not judged at this stage (after
 * an exit 3, until the recovery).
 */
export async function checkDatabase(
  kase: Case,
  stage: string,
  allowed: ReadonlyMap<string, string> | null = kase.allowed,
): Promise<string | null> {
  let inspection: Inspection;
  try {
    inspection = await kase.engine.inspect(kase.project);
  } catch (error) {
    kase.violate('the database opens', `${stage}: ${(error as Error).message}`);
    return null;
  }
  for (const problem of inspection.problems) kase.violate(problem.invariant, `${stage}: ${problem.detail}`);
  const { hash } = inspection;
  const named = allowed === null || [...allowed].some(([, value]) => value === hash);
  if (!named) {
    kase.violate(
      'content is the state before or the state the command meant to produce',
      `${stage}: content ${hash} is none of ${[...allowed].map(([name, value]) => `${name} ${value}`).join(', ')}; ${inspection.state}`,
    );
  }
  await checkWriterRows(kase, stage, inspection);
  return hash;
}

/**
 * Every tag the writer saw committed is in `ledger`, or (when a restore ran in this case) in a
 * pre-restore copy; `ledger` and `journal_entries` hold the same tags (one transaction each).
 */
async function checkWriterRows(kase: Case, stage: string, inspection: Inspection): Promise<void> {
  if (inspection.torn.length > 0)
    kase.violate("the writer's transactions are whole", `${stage}: tags in one table only: ${inspection.torn.join(', ')}`);
  if (kase.idsFile === null) return;
  const seen = await committedTags(kase.idsFile);
  if (seen.length === 0) return;
  let missing = seen.filter((tag) => !inspection.tags.has(tag));
  if (missing.length === 0) return;
  const copies = await kase.engine.preRestoreTags(kase.project);
  missing = missing.filter((tag) => !copies.tags.has(tag));
  if (missing.length > 0) {
    const order = new Map(seen.map((tag, index) => [tag, index]));
    kase.violate(
      'committed rows survive',
      `${stage}: ${missing.length} of ${seen.length} rows the writer saw committed are neither in the database nor in a pre-restore copy (${copies.copies} copies): ${missing
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
    // prune sweeps the kind folders (findLeftovers); the folder's root holds a server's journal and pre-restore dumps.
    const inKindFolder = path.dirname(leftover.file) !== path.resolve(kase.project.backups);
    kase.notes.push(
      `${stage}: hidden temporary file left in the backup folder: ${path.relative(kase.project.backups, leftover.file)} (${leftover.bytes} bytes), not listed; ${inKindFolder ? 'prune removes it once ten minutes old' : 'in the folder itself, which prune does not sweep: it stays'}`,
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
  const journal = kase.engine.journalOf(kase.project);
  if (await exists(journal)) {
    kase.violate(
      'no journal is left after a migrate that ended',
      `${stage}: ${journal} is still there after migrate exited ${result.exitCode}`,
    );
  }
  await checkDatabase(kase, `after the next migrate (${stage})`, expected);
  await kase.engine.checkLeftovers(kase, `after the next migrate (${stage})`);
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
