import { randomUUID } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Umzug } from 'umzug';
import { createBackup, nextBackupPath, type VerifiedBackup } from '../backup/create.ts';
import { runChecks, type CheckResult } from '../checks/index.ts';
import type { ResolvedConfig } from '../config.ts';
import { assertSqliteFile, SqliteConnection } from '../db.ts';
import type { KnexHandle } from '../knex.ts';
import { readAppliedMigrations } from '../migrator/applied.ts';
import { listMigrationFiles } from '../migrator/migration-files.ts';
import { GuardError, messageOf, type ExitCode } from '../errors.ts';
import type { EventListener } from '../events.ts';
import { runHook, type HookName, type HookResult } from '../hooks/run-hook.ts';
import { pathExists } from '../files.ts';
import { formatSeconds as seconds } from '../units.ts';
import { clearJournal, journalPath, writeJournal, type JournalEntry, type RunState } from '../journal.ts';
import { acquireLock } from '../lock.ts';
import { preflight } from '../preflight.ts';
import { planDown, planUp, readMigrationState, type Direction } from './plan.ts';
import { recoverInterruptedRun, type Recovery } from '../recovery.ts';
import { prepareBackup, restoreFull } from '../restore/full.ts';

export interface MigrateOptions {
  readonly database: string;
  readonly migrationsDir: string;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  /** `up` applies pending migrations (migrate); `down` reverts applied ones. Default `up`. */
  readonly direction?: Direction;
  /** up: apply up to and including this one; down: revert down to and including this one. */
  readonly to?: string;
  /** Only this many migrations (down: default 1). */
  readonly step?: number;
  /** Create the database file when it does not exist (a fresh install). */
  readonly createIfMissing?: boolean;
  /** Aborting (SIGINT/SIGTERM in the CLI) stops the run and restores the backup. */
  readonly signal?: AbortSignal;
  readonly onEvent?: EventListener;
  /** Working directory for hooks. */
  readonly cwd?: string;
  /**
   * Bring your own umzug (context: a Knex instance on `database`). Its storage is used as is, so
   * the applied-migration checksum check is skipped.
   */
  readonly umzug?: Umzug<Knex>;
  readonly knex?: Knex;
}

/** `rolled-back`: it ran, then the restore undid it with everything else. */
export type MigrationStatus = 'applied' | 'reverted' | 'failed' | 'not-run' | 'rolled-back';

export interface MigrationOutcome {
  readonly name: string;
  readonly status: MigrationStatus;
  readonly durationMs: number | null;
}

/**
 * Where a run failed. `migrate`, `check`, `interrupted`: after the backup, in this run's report.
 * `refused`, `recovery`: a refusal before anything changed, or an interrupted run that could not be
 * undone, as the CLI reports them when the run threw instead of returning a report.
 */
export interface RunFailure {
  readonly migration: string | null;
  readonly phase: 'migrate' | 'check' | 'interrupted' | 'refused' | 'recovery';
  readonly message: string;
}

export interface MigrateReport {
  readonly command: 'migrate' | 'down';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly database: string;
  /** Migrations applied by this run that are still applied (none after a restore). */
  readonly applied: readonly string[];
  /** Migrations that were pending when the run started (for `down`: those it set out to revert). */
  readonly pending: readonly string[];
  /** `down` only: migrations reverted by this run that stay reverted. */
  readonly reverted: readonly string[];
  readonly backup: string | null;
  readonly restored: boolean;
  readonly failed: RunFailure | null;
  readonly checks: readonly CheckResult[];
  readonly migrations: readonly MigrationOutcome[];
  readonly recovered: Recovery | null;
  /** Why the automatic restore failed (exit 3); the original failure stays in `failed`. */
  readonly restoreError: string | null;
  readonly hooks: readonly HookResult[];
  readonly durationMs: number;
  /** Wall time per phase, in ms: where a slow rollout spent its time. */
  readonly timings: Readonly<Partial<Record<'backup' | 'migrations' | 'checks' | 'restore', number>>>;
}

/**
 * The guarded rollout, as the on-call runbook reads:
 * lock → recover an interrupted run → preflight → beforeMigrate → verified backup → migrations →
 * checks → (on failure) restore and prove it → afterMigrate / onFailure.
 * Refusals before any change throw a GuardError (exit 1); everything after the backup ends in a
 * report whose exit code says whether the database was restored (2) or needs a human (3).
 */
export async function runMigrate(options: MigrateOptions): Promise<MigrateReport> {
  const direction: Direction = options.direction ?? 'up';
  const command = direction === 'up' ? 'migrate' : 'down';
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const started = performance.now();
  // Absolute from here on: the journal must still point at the backup when the next run starts
  // from another working directory.
  const database = path.resolve(options.database);
  const backupDir = path.resolve(options.backupDir);
  const migrationsDir = path.resolve(options.migrationsDir);
  const cwd = options.cwd ?? process.cwd();
  const hooks: HookResult[] = [];
  const timings: Partial<Record<'backup' | 'migrations' | 'checks' | 'restore', number>> = {};
  const since = (mark: number) => Math.round(performance.now() - mark);
  const hook = async (name: HookName, env: Record<string, string>): Promise<HookResult | null> => {
    const command = options.config.hooks[name];
    if (command === null) return null;
    emit({ type: 'step', message: `running ${name} hook: ${command}` });
    const result = await runHook(name, command, {
      cwd,
      env: { MIGRATE_GUARD_DATABASE: database, ...env },
      timeoutMs: options.config.hooks.timeoutMs,
    });
    hooks.push(result);
    emit({ type: 'hook', result });
    return result;
  };

  await assertFolder(path.dirname(database), 'the database');

  // 1. Lock: one run at a time per database.
  const lock = await acquireLock(database, command);
  let handle: KnexHandle | null = null;
  try {
    if (lock.tookOverFrom) {
      const holder = lock.tookOverFrom;
      emit({ type: 'lock-takeover', holder });
    }

    // 2. Recovery: undo a run that died after changing the database.
    const recovered = await recoverInterruptedRun(database, emit);

    await ensureDatabase(database, options.createIfMissing ?? false, emit);
    const selection = { to: options.to, step: options.step };

    // 3a. The common case in a deploy: nothing pending. Answered from the files and the migrations
    //     table alone, before knex and umzug are even loaded.
    if (!options.umzug && direction === 'up') {
      const files = await listMigrationFiles(migrationsDir);
      const applied = (await readAppliedMigrations(database)).map((migration) => migration.name);
      const known = new Set(applied);
      if (planUp(files.filter((file) => !known.has(file.name)).map((file) => file.name), applied, selection).length === 0) {
        emit({ type: 'step', message: 'database is up to date: nothing to migrate' });
        return {
          command, ok: true, exitCode: 0, database, applied: [], reverted: [], pending: [], backup: null, restored: false,
          failed: null, checks: [], migrations: [], recovered, restoreError: null, hooks, timings,
          durationMs: Math.round(performance.now() - started),
        };
      }
    }

    const { openKnex } = await import('../knex.ts');
    const { createMigrator } = await import('../migrator/umzug.ts');
    handle = options.knex ? { knex: options.knex, connections: new Set() } : openKnex(database);
    const migrator = options.umzug ? null : await createMigrator(handle.knex, migrationsDir);
    const umzug = options.umzug ?? migrator!.umzug;

    // 3. Nothing to do: no backup, no hooks. (`pending` is what this run will apply or revert.)
    const { pendingAll, executed } = await readMigrationState(umzug, database);
    const pending =
      direction === 'up'
        ? planUp(pendingAll, executed, selection)
        : await planDown(executed, migrator ? migrator.files : null, selection);
    const report = (fields: Partial<MigrateReport> & Pick<MigrateReport, 'exitCode'>): MigrateReport => ({
      command,
      ok: fields.exitCode === 0,
      database,
      applied: [],
      reverted: [],
      pending,
      backup: null,
      restored: false,
      failed: null,
      checks: [],
      migrations: pending.map((name) => ({ name, status: 'not-run', durationMs: null })),
      recovered,
      restoreError: null,
      hooks,
      durationMs: Math.round(performance.now() - started),
      timings,
      ...fields,
    });
    if (pending.length === 0) {
      emit({ type: 'step', message: direction === 'up' ? 'database is up to date: nothing to migrate' : 'nothing to revert' });
      return report({ exitCode: 0 });
    }

    // 4. Preflight: healthy database, room for the backup, applied migrations unchanged.
    emit({
      type: 'step',
      message: `${pending.length} ${direction === 'up' ? 'pending migration(s)' : 'migration(s) to revert'}; running preflight checks`,
    });
    await preflight({
      database,
      backupDir,
      freeSpaceFactor: options.config.thresholds.freeSpaceFactor,
      ...(migrator ? { storage: migrator.storage, files: migrator.files } : {}),
    });

    const before = await hook('beforeMigrate', {});
    if (before && !before.ok) {
      throw new GuardError('HOOK_FAILED', `beforeMigrate hook failed (exit ${before.exitCode}): ${firstLine(before.output)}; nothing was changed`);
    }
    // The app may be stopped from here on: whatever happens next, a refusal restarts it.
    const restartApp = async () => {
      if (before) await hook('afterMigrate', { MIGRATE_GUARD_OUTCOME: 'refused' });
    };

    // 5. The mandatory, verified pre-rollout backup. The journal says where we are before each step
    //    that a kill could interrupt, so the next run knows what to undo.
    const runId = randomUUID();
    const runStartedAt = new Date().toISOString();
    const backupFile = await nextBackupPath(backupDir, database, 'pre-rollout', new Date(), false);
    const journal = (state: RunState, verifiedBackup: string | null): JournalEntry => ({
      runId,
      pid: process.pid,
      command,
      state,
      startedAt: runStartedAt,
      backupDir,
      backup: verifiedBackup,
      pendingBackup: verifiedBackup === null ? backupFile : null,
    });
    // Once 'migrating' is on disk the next run will restore; later states only refine the story,
    // so failing to record them (a full disk) must not stop the restore itself.
    const note = (state: RunState) =>
      writeJournal(database, journal(state, backup.file)).catch((error: unknown) =>
        emit({ type: 'warning', message: `could not update the run journal: ${messageOf(error)}` }),
      );
    const throwIfAborted = () => {
      if (options.signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted before anything was changed');
    };
    let backup: VerifiedBackup;
    try {
      throwIfAborted();
      await writeJournal(database, journal('backing-up', null));
      emit({ type: 'step', message: 'taking the pre-rollout backup' });
      const backupStarted = performance.now();
      backup = await createBackup({
        database,
        backupDir,
        file: backupFile,
        kind: 'pre-rollout',
        onProgress: (done, total) => emit({ type: 'progress', task: 'backup', done, total }),
        checkpoint: throwIfAborted,
        onVerify: () => emit({ type: 'step', message: 'verifying the backup (checksum, integrity_check of the whole copy)' }),
      });
      timings.backup = since(backupStarted);
      throwIfAborted();
      await writeJournal(database, journal('migrating', backup.file));
    } catch (error) {
      await clearJournal(database).catch(() => undefined);
      await restartApp();
      // For a rollout, a backup that failed verification is a refusal like any other: nothing changed.
      if (error instanceof GuardError && error.code === 'BACKUP_UNVERIFIED') {
        throw new GuardError('BACKUP_FAILED', `${error.message}; the rollout did not start`, { cause: error });
      }
      throw error;
    }
    emit({ type: 'step', message: `backup verified in ${seconds(timings.backup)}: ${backup.file}` });

    // 6. The migrations.
    const outcomes = new Map<string, MigrationOutcome>(pending.map((name) => [name, { name, status: 'not-run', durationMs: null }]));
    let current: string | null = null;
    let currentStarted = 0;
    const connections = handle.connections;
    // A signal interrupts the statement running now, and `query_only` (queued behind it on the
    // same connection) makes the migration's next write fail, so it stops between statements
    // instead of finishing a long data migration we are about to undo anyway.
    const interrupt = () => {
      for (const connection of connections) {
        connection.interrupt();
        connection.exec('PRAGMA query_only = ON', () => undefined);
      }
    };
    options.signal?.addEventListener('abort', interrupt);
    const offStarting = umzug.on(direction === 'up' ? 'migrating' : 'reverting', ({ name }) => {
      if (options.signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted by a signal');
      current = name;
      currentStarted = performance.now();
      emit({ type: 'migration-start', name });
    });
    const offDone = umzug.on(direction === 'up' ? 'migrated' : 'reverted', ({ name }) => {
      const durationMs = Math.round(performance.now() - currentStarted);
      outcomes.set(name, { name, status: direction === 'up' ? 'applied' : 'reverted', durationMs });
      current = null;
      emit({ type: 'migration-done', name, direction, durationMs });
    });
    let failure: RunFailure | null = null;
    const migrationsStarted = performance.now();
    try {
      // Exactly the planned migrations, in the planned order (newest first for down).
      if (direction === 'up') await umzug.up({ migrations: pending });
      else await umzug.down({ migrations: pending });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      failure = {
        migration: current,
        phase: options.signal?.aborted ? 'interrupted' : 'migrate',
        message: options.signal?.aborted ? `interrupted by a signal (${messageOf(cause)})` : messageOf(cause),
      };
      if (current !== null) {
        outcomes.set(current, { name: current, status: 'failed', durationMs: Math.round(performance.now() - currentStarted) });
        emit({ type: 'migration-failed', name: current, message: failure.message });
      }
    } finally {
      offStarting();
      offDone();
      timings.migrations = since(migrationsStarted);
    }

    // 7. Post-migration checks.
    let checks: CheckResult[] = [];
    if (failure === null) {
      await note('checking');
      emit({ type: 'step', message: 'running post-migration checks' });
      const checksStarted = performance.now();
      try {
        checks = await runChecks({
          database,
          knex: handle.knex,
          checks: options.config.checks,
          onCheck: (result) => emit({ type: 'check', result }),
        });
      } catch (error) {
        checks = [{ name: 'checks', ok: false, detail: `the checks could not run: ${messageOf(error)}` }];
      }
      timings.checks = since(checksStarted);
      const failedChecks = checks.filter((check) => !check.ok);
      if (failedChecks.length > 0) {
        failure = {
          migration: null,
          phase: 'check',
          message: failedChecks.map((check) => `${check.name}: ${check.detail}`).join('; '),
        };
      } else if (options.signal?.aborted) {
        failure = { migration: null, phase: 'interrupted', message: 'interrupted by a signal' };
      }
    }
    options.signal?.removeEventListener('abort', interrupt);
    if (!options.knex) await handle.knex.destroy();
    handle = null;

    // A journal left behind would make the next run undo this one: say so loudly, but a failure to
    // delete a file must not turn a finished rollout or a proven restore into a failure.
    const retireJournal = () =>
      clearJournal(database).catch((error: unknown) =>
        emit({
          type: 'warning',
          message: `could not remove the run journal ${journalPath(database)} (${messageOf(error)}): delete it by hand, or the next run will restore ${backup.file}`,
        }),
      );
    if (failure === null) {
      await retireJournal();
      emit({
        type: 'step',
        message: `${pending.length} migration(s) ${direction === 'up' ? 'applied' : 'reverted'} in ${seconds(timings.migrations)}; all checks passed in ${seconds(timings.checks)}`,
      });
      await hook('afterMigrate', { MIGRATE_GUARD_OUTCOME: direction === 'up' ? 'applied' : 'reverted', MIGRATE_GUARD_BACKUP: backup.file });
      return report({
        exitCode: 0,
        ...(direction === 'up' ? { applied: pending } : { reverted: pending }),
        backup: backup.file,
        checks,
        migrations: [...outcomes.values()],
      });
    }

    // 8. Something failed after the database changed: put the backup back and prove it.
    emit({ type: 'warning', message: `${failure.phase} failed${failure.migration ? ` in ${failure.migration}` : ''}: ${failure.message}` });
    emit({ type: 'step', message: `restoring the pre-rollout backup ${backup.file}` });
    await note('restoring');
    let restoreError: string | null = null;
    const restoreStarted = performance.now();
    try {
      const prepared = await prepareBackup(backup.file);
      try {
        await restoreFull({
          database,
          backup: prepared,
          onProgress: (done, total) => emit({ type: 'progress', task: 'restore', done, total }),
        });
      } finally {
        await prepared.release();
      }
      timings.restore = since(restoreStarted);
      emit({ type: 'step', message: `restore verified in ${seconds(timings.restore)}: the database is back to its pre-rollout state` });
    } catch (error) {
      restoreError = messageOf(error);
    }
    // Only a proven restore retires the journal; otherwise the next run tries again.
    if (restoreError === null) await retireJournal();
    const exitCode: ExitCode = restoreError === null ? 2 : 3;
    const failureEnv = {
      MIGRATE_GUARD_OUTCOME: exitCode === 2 ? 'restored' : 'restore-failed',
      MIGRATE_GUARD_EXIT_CODE: String(exitCode),
      MIGRATE_GUARD_BACKUP: backup.file,
      MIGRATE_GUARD_FAILED_MIGRATION: failure.migration ?? '',
      MIGRATE_GUARD_PHASE: failure.phase,
      MIGRATE_GUARD_ERROR: failure.message,
    };
    await hook('onFailure', failureEnv);
    // A database the restore could not prove is not one to start the application on.
    if (exitCode === 2) await hook('afterMigrate', failureEnv);
    return report({
      exitCode,
      backup: backup.file,
      restored: exitCode === 2,
      failed: failure,
      checks,
      restoreError,
      migrations: [...outcomes.values()].map((outcome) =>
        outcome.status === 'applied' || outcome.status === 'reverted' ? { ...outcome, status: 'rolled-back' } : outcome,
      ),
    });
  } finally {
    if (handle && !options.knex) await handle.knex.destroy().catch(() => undefined);
    // The kernel drops the lock when this process ends anyway; never let this hide the outcome.
    await lock.release().catch((error: unknown) =>
      emit({ type: 'warning', message: `could not release the run lock cleanly: ${messageOf(error)}` }),
    );
  }
}

async function assertFolder(folder: string, what: string): Promise<void> {
  try {
    const info = await stat(folder);
    if (info.isDirectory()) return;
  } catch {
    // fall through to the refusal
  }
  throw new GuardError('USAGE', `the folder for ${what} (${folder}) does not exist; check --db / DATABASE_URL`);
}

/**
 * A missing database is created only when asked (the CLI asks outside production): a typo in
 * DATABASE_URL on a production host must not quietly migrate an empty new file.
 */
async function ensureDatabase(database: string, createIfMissing: boolean, emit: EventListener): Promise<void> {
  if (!(await pathExists(database))) {
    if (!createIfMissing) {
      throw new GuardError(
        'DATABASE_MISSING',
        `database ${database} does not exist; check --db / DATABASE_URL, or pass --create to start a new one`,
      );
    }
    await mkdir(path.dirname(database), { recursive: true });
    const created = await SqliteConnection.open(database, 'create');
    // Write the header page, so the new file is a real SQLite database that backups can copy.
    await created.exec('PRAGMA user_version = 0; CREATE TABLE __migrate_guard_init (x); DROP TABLE __migrate_guard_init;');
    await created.close();
    emit({ type: 'step', message: `created a new database ${database}` });
    return;
  }
  await assertSqliteFile(database);
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '') ?? '(no output)';
}
