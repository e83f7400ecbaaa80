import { compareRestored } from '../backup/compare-facts.ts';
import { foreignKeyCheck } from '../checks/foreign-keys.ts';
import { smokeCheck } from '../checks/smoke.ts';
import type { AppliedReader, DatabaseFacts, Engine, IntegrityLevel, Progress, Reader, RestoreSteps } from '../engines/contract.ts';
import { GuardError, messageOf } from '../errors.ts';
import { progressOf, type EventListener } from '../events.ts';
import type { PreparedBackup } from './prepare.ts';

export interface RestoreOptions {
  readonly engine: Engine;
  readonly applied: AppliedReader;
  readonly backup: PreparedBackup;
  readonly onProgress?: Progress;
  /**
   * Keeps what the database holds before the restore changes it (the pre-restore copy), called
   * once the restore holds the write lock: no commit of the application's can fall in between.
   */
  readonly keepCurrent?: RestoreSteps<unknown>['beforeChange'];
  /** Says when the copy is in and the proof of the restored database starts. */
  readonly onProve?: () => void;
  /**
   * The `restore` command's stricter proof: no foreign-key violations and the smoke queries run
   * (null: count every table). The automatic rollback puts back what was there, violations and all.
   */
  readonly strict?: { readonly smoke: readonly string[] | null; readonly integrity?: IntegrityLevel };
}

export interface RestoreProof {
  readonly integrity: string;
  /** Row count of every table after the restore. */
  readonly tables: Readonly<Record<string, number>>;
  /** Rows not soft-deleted, for tables with a `deletedAt` column. */
  readonly liveRows: Readonly<Record<string, number>>;
  readonly appliedMigrations: readonly string[];
  /**
   * Row counts that differ from the backup because the application committed on top of the
   * restore before the proof read it (empty when nobody wrote): reported, not proven.
   */
  readonly writtenSince: readonly string[];
}

/**
 * Puts a backup back *into* the live database (the engine's restore is safe while the application
 * holds it open), then proves it: the restored database passes a quick integrity check and has the
 * schema, row counts and migration state the backup had. Throws RECOVERY_FAILED (exit 3: the
 * database was changed) when it cannot.
 */
export async function restoreFull(options: RestoreOptions): Promise<RestoreProof> {
  const { engine } = options;
  const critical = { exitCode: 3, backup: options.backup.file } as const;
  const fail = (message: string, cause?: unknown) =>
    new GuardError('RECOVERY_FAILED', message, cause === undefined ? critical : { ...critical, cause });
  // The restore is one transaction on either engine: one that fails (a full disk) leaves the
  // database as it was. What it was is read first, so a failure can be told apart from damage.
  const before =
    (await engine.probe()) === 'ready'
      ? await engine.read('readonly', (reader) => engine.facts(reader, options.applied)).catch(() => null)
      : null;
  let copied = false;
  try {
    return await engine.restore(options.backup.source, {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.keepCurrent ? { beforeChange: options.keepCurrent } : {}),
      prove: (reader, othersWrote) => {
        copied = true;
        options.onProve?.();
        return prove(options, reader, othersWrote, fail);
      },
    });
  } catch (error) {
    if (error instanceof GuardError) throw error;
    if (copied) throw fail(`restore from ${options.backup.file} could not be verified: ${messageOf(error)}`, error);
    if (before !== null && (await unchangedSince(engine, options.applied, before))) {
      throw new GuardError(
        'RESTORE_FAILED',
        `restore from ${options.backup.file} failed and was undone, the database is as it was (${engine.labels.quickCheck}, schema, row counts): ${messageOf(error)}`,
        { cause: error },
      );
    }
    throw fail(`restore from ${options.backup.file} failed: ${messageOf(error)}`, error);
  }
}

/**
 * The proof, on the database as the restore left it. When the application committed on top of
 * the restore before this read (`othersWrote`), row counts may differ from the backup's by what it
 * wrote: those differences are reported, not failed; the schema, the applied migrations and the
 * structure must still match exactly.
 */
async function prove(
  options: RestoreOptions,
  reader: Reader,
  othersWrote: boolean,
  fail: (message: string) => GuardError,
): Promise<RestoreProof> {
  const { engine } = options;
  // quick_check catches a bad copy (b-tree structure, page accounting). The full check, where it
  // is asked for (the drill), proves the backup itself: a manifest that matches proves only that
  // the bytes are the ones it describes, and anyone who can write the backup folder can write a
  // manifest, checksums and all. The `restore` command runs it on the backup before the restore.
  const level = options.strict?.integrity ?? 'quick';
  const integrity = await engine.integrity(reader, level);
  if (!integrity.ok)
    throw fail(`restored database fails ${level === 'full' ? engine.labels.fullCheck : engine.labels.quickCheck}: ${integrity.detail}`);
  const facts = await engine.facts(reader, options.applied);
  const expected = options.backup.expected;
  const problems = compareRestored(expected, facts);
  const shapeProblems = compareRestored({ ...expected, tables: {} }, { ...facts, tables: {} });
  const writtenSince = othersWrote && shapeProblems.length === 0 ? problems : [];
  if (problems.length > 0 && writtenSince.length === 0) throw fail(`restored database differs from the backup: ${problems.join('; ')}`);
  if (options.strict) {
    const foreignKeys = await foreignKeyCheck({ engine, reader });
    if (!foreignKeys.ok) throw fail(`restored database has foreign-key violations: ${foreignKeys.detail}`);
    const smoke = await smokeCheck({ engine, reader }, options.strict.smoke);
    if (!smoke.ok) throw fail(`smoke queries fail on the restored database: ${smoke.detail}`);
  }
  return {
    integrity: integrity.detail,
    tables: facts.tables,
    liveRows: await liveRowCounts(engine, reader, Object.keys(facts.tables)),
    appliedMigrations: facts.appliedMigrations,
    writtenSince,
  };
}

/**
 * The `restore` command's and the drill's restore: the strict proof (foreign keys, the configured
 * smoke queries), with the copy's progress and the proof's wait shown as events.
 */
export async function restoreStrictly(
  options: Pick<RestoreOptions, 'engine' | 'applied' | 'backup' | 'keepCurrent'> & {
    readonly smoke: readonly string[] | null;
    readonly emit: EventListener;
    /** `full` where the backup was not fully checked before (the drill); default quick. */
    readonly integrity?: IntegrityLevel;
  },
): Promise<RestoreProof> {
  const { emit, smoke, integrity = 'quick', ...rest } = options;
  const proof = await restoreFull({
    ...rest,
    strict: { smoke, integrity },
    onProgress: progressOf(emit, 'restore'),
    onProve: () =>
      emit({
        type: 'working',
        label: `proving the restore: ${integrity === 'full' ? rest.engine.labels.fullCheck : rest.engine.labels.quickCheck}, schema, row counts, foreign keys, smoke queries`,
      }),
  });
  if (proof.writtenSince.length > 0) {
    emit({
      type: 'warning',
      message: `the application wrote on top of the restore before its proof read it; these row counts are theirs, not compared: ${proof.writtenSince.join('; ')}`,
    });
  }
  return proof;
}

/** Soft-delete-aware counts: the rows the application still shows. */
async function liveRowCounts(
  engine: Pick<Engine, 'columns' | 'quote'>,
  reader: Reader,
  tables: readonly string[],
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    if (!(await engine.columns(reader, table)).includes('deletedAt')) continue;
    const [row] = await reader.all<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ${engine.quote(table)} WHERE ${engine.quote('deletedAt')} IS NULL`,
    );
    counts[table] = row?.n ?? 0;
  }
  return counts;
}

/**
 * Whether the database still passes quick_check and has the schema and row counts it had. Read
 * read-write: SQLite rolls a failed copy's leftover journal back on that open.
 */
async function unchangedSince(engine: Engine, applied: AppliedReader, before: DatabaseFacts): Promise<boolean> {
  try {
    return await engine.read('readwrite', async (reader) => {
      if (!(await engine.integrity(reader, 'quick')).ok) return false;
      return compareRestored(before, await engine.facts(reader, applied)).length === 0;
    });
  } catch {
    return false;
  }
}
