import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import type { CheckResult } from '../checks/contract.ts';
import { runChecks } from '../checks/run.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine, SchemaShape, ScratchDatabase, EngineKind } from '../engines/contract.ts';
import { engineFor } from '../engines/select.ts';
import { fullMessageOf, GuardError, type ExitCode } from '../errors.ts';
import { progressOf, waitsOf, type EventListener } from '../events.ts';
import { assembleFindings, relativeFile } from '../review/assemble.ts';
import { failsOn, type FailOn } from '../review/fail-on.ts';
import { detect, lockHeldMs, type Detected, type Finding, type TimedStatement } from '../review/findings.ts';
import { listBackups } from '../backup/store.ts';
import { backupOwner } from '../backup/identity.ts';
import { readManifest } from '../backup/manifest.ts';
import { recordedMigrations } from '../history/select.ts';
import { prepareBackup } from '../restore/prepare.ts';
import { restoreStrictly } from '../restore/restore-full.ts';
import { folderSettings, type MigrationsSettings } from '../config/locations.ts';
import { resolveHistory } from '../history/select.ts';
import { filesOf } from '../rollout/run.ts';
import type { StepObserver } from '../migrator/umzug.ts';
import { DOWN, UP } from '../rollout/direction.ts';
import { changedDatabase, readJournal } from '../rollout/journal.ts';
import { buildPlan } from '../rollout/plan.ts';
import type { LockTimings } from '../migrator/executor.ts';
import { planBeforeTouching } from '../rollout/check-plan.ts';
import { assertAppliedUnchanged } from '../rollout/preflight.ts';

export interface DryRunOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  /**
   * The backup folder: where a server's run journal is (a PostgreSQL database has no "beside"), and
   * where `fromBackup: 'latest'` looks.
   */
  readonly backupDir?: string | undefined;
  readonly migrationsDir: string;
  /** The knexfile's migrations settings; default: `migrationsDir` alone. */
  readonly migrations?: MigrationsSettings;
  readonly config: ResolvedConfig;
  readonly direction?: 'up' | 'down';
  readonly to?: string;
  readonly step?: number;
  /** Where the scratch copy goes; default the system temp folder. Never the backup folder. */
  readonly scratchDir?: string;
  readonly onEvent?: EventListener;
  /** Where findings' file paths are relative to (the repository root in CI); default the process's. */
  readonly cwd?: string;
  /** When the dry run exits 1 (default `failure`: only when a migration or check would fail). */
  readonly failOn?: FailOn;
  /**
   * Rehearse on a stored verified backup instead of the live database: a file, or `latest` (this
   * database's newest verified backup in `backupDir`). The live database is not read at all.
   */
  readonly fromBackup?: string;
}

/** One pending migration as rehearsed on the copy. */
export interface PlannedMigration {
  readonly name: string;
  /** Its file relative to the working directory, `/`-separated; null when unknown. */
  readonly file: string | null;
  readonly status: 'would-apply' | 'would-fail' | 'not-run';
  readonly ok: boolean;
  /** Every statement it executed on the copy, in order, bindings inlined. */
  readonly sql: readonly string[];
  /** The messages of its findings that count (not allowed), as one line each. */
  readonly warnings: readonly string[];
  /** Time on the copy: a forecast of the real run. */
  readonly durationMs: number | null;
  /** How long it held locks the application would wait on, on the copy (see `lockHeldMs`); null when not run. */
  readonly lockHeldMs: number | null;
  readonly error: string | null;
}

/** Where the dry run's time went; the lock keys are the real run's, estimated on the copy. */
export interface DryRunTimings {
  readonly copy: number;
  readonly migrations: number;
  readonly checks: number;
  /** How long the rehearsal's migrations held the write lock (SQLite) or table locks (PostgreSQL), summed. */
  readonly lockHeldMs: number;
  /** Time spent waiting for those locks: 0, nobody else uses the copy. */
  readonly lockWaitMs: number;
}

export interface DryRunReport {
  readonly command: 'migrate' | 'down';
  readonly dryRun: true;
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly database: string;
  /** The contract's migrate keys: a dry run applies nothing, takes no backup, restores nothing. */
  readonly applied: readonly never[];
  readonly backup: null;
  readonly restored: false;
  /** The first thing that would fail, as the real run would report it. */
  readonly failed: { readonly migration: string | null; readonly phase: 'migrate' | 'check'; readonly message: string } | null;
  readonly pending: readonly string[];
  /** Things about the real run that the rehearsal cannot show. */
  readonly notes: readonly string[];
  readonly plan: readonly PlannedMigration[];
  /** The post-migration checks on the rehearsed copy (empty when a migration failed). */
  readonly checks: readonly CheckResult[];
  /** What the review rules found, allowed ones included (marked with `allowedBy`). */
  readonly findings: readonly Finding[];
  readonly failOn: FailOn;
  /** The stored backup rehearsed on (`--from-backup`); null: a copy of the live database. */
  readonly fromBackup: string | null;
  readonly timings: DryRunTimings;
  readonly copyMs: number;
  readonly durationMs: number;
}

/**
 * Rehearses the pending migrations on a scratch copy of the live database, taken with the online
 * backup API through a connection that writes nothing (the -shm included), and reports what they
 * did there: statements, timing, destructive effects, and whether they and the checks pass.
 * Takes no lock and writes nothing beside the live database or in the backup folder.
 */
export async function runDryRun(options: DryRunOptions): Promise<DryRunReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  if (options.config.umzug !== null) {
    throw new GuardError(
      'USAGE',
      `a dry run rehearses migration files on a copy of the database; the project Umzug (${options.config.umzug}) runs its migrations on its own connection to the live one, so it cannot be rehearsed`,
    );
  }
  const direction = options.direction === 'down' ? DOWN : UP;
  const failOn = options.failOn ?? 'failure';
  const started = performance.now();
  // The backup folder is where a server's run journal lives: the one the real run would read.
  const live = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  const database = live.name;
  const settings = options.migrations ?? folderSettings(options.migrationsDir);
  const selection = { to: options.to, step: options.step };
  const notes: string[] = [];
  const fromBackup = options.fromBackup === undefined ? null : await chooseBackup(live, options.fromBackup, options.backupDir);

  const scratch = await mkdtemp(path.join(options.scratchDir ?? tmpdir(), 'migrate-guard-dry-run-'));
  // Removed whatever fails, the copy itself included (a full disk there): a scratch folder holds data.
  let rehearsalDatabase: ScratchDatabase | null = null;
  try {
    const copyStarted = performance.now();
    let copy: Engine;
    let history: Awaited<ReturnType<typeof resolveHistory>>;
    if (fromBackup !== null) {
      // The backup restored into a scratch database with the restore's own checks: the rehearsal's
      // copy is that database, and the history is the backup's.
      rehearsalDatabase = await live.scratch(scratch);
      copy = rehearsalDatabase.engine;
      emit({ type: 'step', message: `restoring ${fromBackup} into a scratch database to rehearse on` });
      const applied = recordedMigrations(copy);
      const prepared = await prepareBackup(copy, applied, fromBackup);
      try {
        await restoreStrictly({ engine: copy, applied, backup: prepared, smoke: options.config.checks.smoke, emit });
      } finally {
        await prepared.release();
      }
      history = await resolveHistory(copy, settings);
      await planBeforeTouching({ engine: copy, history, source: filesOf(settings, history), direction, selection });
    } else {
      const exists = (await live.probe()) !== 'missing';
      // Nothing written: only waited for while another connection holds or recovers it.
      if (exists) await live.settle({ write: false, onWait: waitsOf(emit) });
      const interrupted = await readJournal(live);
      if (interrupted && changedDatabase(interrupted)) {
        notes.push(
          `an interrupted ${interrupted.command} (pid ${interrupted.pid}) left the database changed: the real run will first restore ${interrupted.backup}, so it will start from that state, not this one`,
        );
        emit({ type: 'warning', message: notes[notes.length - 1]! });
      }
      // The history as the live database keeps it (the copy has the same tables), and every migration
      // the rehearsal would run loaded and checked before anything is copied.
      history = await resolveHistory(live, settings);
      await planBeforeTouching({ engine: live, history, source: filesOf(settings, history), direction, selection });
      rehearsalDatabase = exists ? await live.rehearsal(scratch, progressOf(emit, 'backup')) : await live.scratch(scratch);
      copy = rehearsalDatabase.engine;
      if (!exists) emit({ type: 'step', message: `database ${database} does not exist yet: rehearsing on an empty one` });
    }
    const copyMs = Math.round(performance.now() - copyStarted);
    emit({
      type: 'step',
      message: `rehearsing on a copy${fromBackup === null ? '' : ' of the backup'} (${(copyMs / 1000).toFixed(1)}s to copy); the live database is not touched`,
    });

    const handle = await copy.openKnex();
    const rehearsal = rehearse(handle.knex, copy, options.config.thresholds);
    // The same refusals as the real run: a damaged database, an edited applied migration.
    const plan = await buildPlan({
      engine: copy,
      subject: fromBackup === null ? live : copy,
      history,
      source: filesOf(settings, history),
      direction,
      selection,
      handle,
      observer: rehearsal.observer,
      // Per migration: the rehearsal inspects the schema between migrations on the same connection.
      transactions: 'per-migration',
      transactionalDdl: copy.transactionalDdl,
    });
    // The rehearsal takes no lock timeout and never retries: a copy has no one to wait for.
    const timings: LockTimings = {};
    plan.executor.configure({ policy: null, retry: { timeoutMs: 0, retries: 0, budgetMs: 0 }, onRetry: () => undefined, timings });
    try {
      if (plan.files) assertAppliedUnchanged(plan.applied, plan.files, settings.validateApplied);
      const { pending } = plan;
      let current: string | null = null;
      plan.umzug.on(direction.events.starting, ({ name }) => {
        current = name;
      });
      let failed = false;
      const written = plan.handle.watchWrites();
      const migrationsStarted = performance.now();
      try {
        await direction.run(plan.umzug, pending);
      } catch (error) {
        failed = true;
        if (current !== null) rehearsal.failed(current, fullMessageOf((error as { cause?: unknown }).cause ?? error));
      }
      const migrationsMs = Math.round(performance.now() - migrationsStarted);

      const checksStarted = performance.now();
      let checks: CheckResult[] = [];
      if (!failed && pending.length > 0) {
        const db = plan.executor.reads;
        // The same checks the real run makes, on what the rehearsal wrote.
        checks = await runChecks({
          engine: copy,
          reader: copy.reader(db),
          knex: db,
          changed: await written(copy.reader(db)),
          checks: options.config.checks,
          onStart: (label) => emit({ type: 'working', label: `${label} (on the rehearsal copy)` }),
        });
      }
      const checksMs = Math.round(performance.now() - checksStarted);
      const paths = new Map((plan.files ?? []).map((file) => [file.name, file.path]));
      const findings = await assembleFindings(
        pending.map((name) => ({ name, file: paths.get(name) ?? null, detected: rehearsal.detected.get(name) ?? [] })),
        options.config.review.allow,
        options.cwd ?? process.cwd(),
      );
      const entries = pending.map((name): PlannedMigration => {
        const rehearsed = rehearsal.plan.get(name);
        const file = paths.has(name) ? relativeFile(paths.get(name)!, options.cwd ?? process.cwd()) : null;
        if (!rehearsed)
          return { name, file, status: 'not-run', ok: false, sql: [], warnings: [], durationMs: null, lockHeldMs: null, error: null };
        const counted = findings.filter((finding) => finding.migration === name && finding.allowedBy === null);
        return { ...rehearsed, file, warnings: counted.map((finding) => finding.message) };
      });
      const ok = !failed && checks.every((check) => check.ok);
      const failing = entries.find((entry) => entry.status === 'would-fail');
      const failedChecks = checks.filter((check) => !check.ok);
      return {
        command: direction.command,
        dryRun: true,
        ok,
        exitCode: failsOn(failOn, !ok, findings) ? 1 : 0,
        database,
        applied: [],
        backup: null,
        restored: false,
        failed: failing
          ? { migration: failing.name, phase: 'migrate', message: failing.error ?? 'failed' }
          : failedChecks.length > 0
            ? { migration: null, phase: 'check', message: failedChecks.map((check) => `${check.name}: ${check.detail}`).join('; ') }
            : null,
        pending,
        notes,
        plan: entries,
        checks,
        findings,
        failOn,
        fromBackup,
        timings: {
          copy: copyMs,
          migrations: migrationsMs,
          checks: checksMs,
          // A group run holds its lock through the checks as well as the migrations.
          lockHeldMs: entries.reduce((sum, entry) => sum + (entry.lockHeldMs ?? 0), 0) + (checks.length > 0 ? checksMs : 0),
          lockWaitMs: 0,
        },
        copyMs,
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      await plan.close();
    }
  } finally {
    await rehearsalDatabase?.drop().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

interface Rehearsal {
  readonly observer: StepObserver;
  /** Each migration as rehearsed so far, by name. */
  readonly plan: ReadonlyMap<string, PlannedMigration>;
  /** What the review rules found in each migration that ran, by name. */
  readonly detected: ReadonlyMap<string, readonly Detected[]>;
  failed(name: string, error: string): void;
}

/**
 * The statement as it would be typed, its bound values written in. knex hands PostgreSQL's
 * statements over with `$1`-style placeholders (SQLite's with `?`); each value is rendered by knex
 * itself. Never throws: this runs inside knex's query event, where an error would fail the
 * migration being rehearsed.
 */
function inlineBindings(knex: Knex, sql: string, bindings: readonly unknown[]): string {
  if (bindings.length === 0) return sql;
  try {
    if (/^postgres/.test(knex.client.dialect as string)) {
      return sql.replace(/\$(\d+)/g, (placeholder, position: string) => {
        const index = Number(position) - 1;
        return index < bindings.length ? knex.raw('?', [bindings[index] as Knex.RawBinding]).toQuery() : placeholder;
      });
    }
    return knex.raw(sql, bindings as Knex.RawBinding[]).toQuery();
  } catch {
    return `${sql} -- bindings: ${JSON.stringify(bindings)}`;
  }
}

/**
 * Watches the migrations run on the copy: every statement knex sends (bindings inlined) and how
 * long it took, and the schema before and after each migration, which the review rules are read
 * from. Capture starts before a migration's transaction opens, so the plan shows its BEGIN, and
 * stops after the migration's own work, before the history row is written.
 */
function rehearse(
  knex: Knex,
  engine: Pick<Engine, 'inspect' | 'reader' | 'lockWarnings'>,
  thresholds: { readonly largeTableRows: number; readonly longLockMs: number },
): Rehearsal {
  let capturing = false;
  let statements: { sql: string; startedAt: number; durationMs: number | null }[] = [];
  const running = new Map<string, { sql: string; startedAt: number; durationMs: number | null }>();
  let before: SchemaShape = new Map();
  let stepStarted = 0;
  const plan = new Map<string, PlannedMigration>();
  const detected = new Map<string, readonly Detected[]>();
  knex.on('query', (query: { sql: string; bindings?: readonly unknown[]; __knexQueryUid?: string }) => {
    if (!capturing) return;
    const sql = inlineBindings(knex, query.sql, query.bindings ?? []);
    // knex sends `BEGIN;` for a transaction; the plan lists statements without their terminator.
    const statement = { sql: sql.replace(/;\s*$/, ''), startedAt: performance.now(), durationMs: null };
    statements.push(statement);
    if (query.__knexQueryUid) running.set(query.__knexQueryUid, statement);
  });
  knex.on('query-response', (_response: unknown, query: { __knexQueryUid?: string }) => {
    const statement = query.__knexQueryUid ? running.get(query.__knexQueryUid) : undefined;
    if (!statement) return;
    running.delete(query.__knexQueryUid!);
    statement.durationMs = Math.round((performance.now() - statement.startedAt) * 10) / 10;
  });
  knex.on('query-error', (_error: unknown, query: { __knexQueryUid?: string }) => {
    if (query.__knexQueryUid) running.delete(query.__knexQueryUid);
  });
  return {
    plan,
    detected,
    observer: {
      beforeStep: async () => {
        before = await engine.inspect(engine.reader(knex));
        statements = [];
        capturing = true;
        stepStarted = performance.now();
      },
      afterStep: async (name, db) => {
        capturing = false;
        const ended = performance.now();
        const durationMs = Math.round(ended - stepStarted);
        const ran: readonly TimedStatement[] = statements;
        const lockMs = lockHeldMs(ran, ended);
        const after = await engine.inspect(engine.reader(db));
        const sql = ran.map((statement) => statement.sql);
        const found = detect(before, after, ran, engine.lockWarnings(sql, before, thresholds.largeTableRows), lockMs, thresholds);
        detected.set(name, found);
        plan.set(name, {
          name,
          file: null,
          status: 'would-apply',
          ok: true,
          sql,
          warnings: found.map((finding) => finding.message),
          durationMs,
          lockHeldMs: lockMs,
          error: null,
        });
      },
    },
    failed(name, error) {
      const rehearsed = plan.get(name);
      plan.set(name, {
        name,
        file: null,
        status: 'would-fail',
        ok: false,
        sql: rehearsed?.sql ?? statements.map((statement) => statement.sql),
        warnings: rehearsed?.warnings ?? [],
        durationMs: rehearsed?.durationMs ?? null,
        lockHeldMs: rehearsed?.lockHeldMs ?? null,
        error,
      });
    },
  };
}

/**
 * The backup `--from-backup` names: a file, or `latest`, this database's newest verified backup
 * (in a CI job the database's path differs from production's, so when none is this database's and
 * the folder holds one database's backups only, that one's).
 */
async function chooseBackup(live: Engine, argument: string, backupDir: string | undefined): Promise<string> {
  if (argument !== 'latest') {
    const manifest = await readManifest(argument).catch(() => null);
    if (manifest !== null && !manifest.verified) {
      throw new GuardError(
        'USAGE',
        `backup ${argument} is not verified (its proof failed or a scrub found it changed); rehearse on a verified one (migrate-guard backups lists them)`,
      );
    }
    return argument;
  }
  if (backupDir === undefined) throw new GuardError('USAGE', '--from-backup latest needs the backup folder (--backup-dir)');
  const owner = await backupOwner(live).catch(() => null);
  const verified = (await listBackups(backupDir)).filter((entry) => entry.verified && entry.problem === null);
  const own = owner === null ? [] : (await listBackups(backupDir, { owner })).filter((entry) => entry.verified && entry.problem === null);
  const sources = new Set(verified.map((entry) => entry.source));
  const chosen = own[0] ?? (sources.size === 1 ? verified[0] : undefined);
  if (!chosen) {
    throw new GuardError(
      'USAGE',
      sources.size > 1
        ? `--from-backup latest: no verified backup of ${live.name} in ${backupDir}, and it holds backups of ${sources.size} databases; name the backup file`
        : `--from-backup latest: no verified backup in ${backupDir}; take one (migrate-guard backup) or name the backup file`,
    );
  }
  return chosen.path;
}
