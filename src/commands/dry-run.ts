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
import { destructiveWarnings } from '../dry-run/warnings.ts';
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
  /** The backup folder: where a server's run journal is (a PostgreSQL database has no "beside"). */
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
}

/** One pending migration as rehearsed on the copy. */
export interface PlannedMigration {
  readonly name: string;
  readonly status: 'would-apply' | 'would-fail' | 'not-run';
  readonly ok: boolean;
  /** Every statement it executed on the copy, in order, bindings inlined. */
  readonly sql: readonly string[];
  readonly warnings: readonly string[];
  /** Time on the copy: a forecast of the real run. */
  readonly durationMs: number | null;
  readonly error: string | null;
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
  readonly copyMs: number;
  readonly durationMs: number;
  /**
   * The real run's locks, estimated from the rehearsal: `lockHeldMs` the migrations' transactions
   * and the checks (a group run holds its lock through both); `lockWaitMs` 0, since the copy has no
   * application to wait for (the real run's wait depends on what runs beside it then).
   */
  readonly timings: { readonly lockHeldMs: number; readonly lockWaitMs: number };
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
  const started = performance.now();
  // The backup folder is where a server's run journal lives: the one the real run would read.
  const live = engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  const database = live.name;
  const exists = (await live.probe()) !== 'missing';
  // Nothing written: only waited for while another connection holds or recovers it.
  if (exists) await live.settle({ write: false, onWait: waitsOf(emit) });
  const notes: string[] = [];
  const interrupted = await readJournal(live);
  if (interrupted && changedDatabase(interrupted)) {
    notes.push(
      `an interrupted ${interrupted.command} (pid ${interrupted.pid}) left the database changed: the real run will first restore ${interrupted.backup}, so it will start from that state, not this one`,
    );
    emit({ type: 'warning', message: notes[notes.length - 1]! });
  }

  // The history as the live database keeps it (the copy has the same tables), and every migration
  // the rehearsal would run loaded and checked before anything is copied.
  const settings = options.migrations ?? folderSettings(options.migrationsDir);
  const history = await resolveHistory(live, settings);
  const selection = { to: options.to, step: options.step };
  await planBeforeTouching({ engine: live, history, source: filesOf(settings, history), direction, selection });

  const scratch = await mkdtemp(path.join(options.scratchDir ?? tmpdir(), 'migrate-guard-dry-run-'));
  // Removed whatever fails, the copy itself included (a full disk there): a scratch folder holds data.
  let rehearsalDatabase: ScratchDatabase | null = null;
  try {
    const copyStarted = performance.now();
    rehearsalDatabase = exists ? await live.rehearsal(scratch, progressOf(emit, 'backup')) : await live.scratch(scratch);
    const copy = rehearsalDatabase.engine;
    if (!exists) emit({ type: 'step', message: `database ${database} does not exist yet: rehearsing on an empty one` });
    const copyMs = Math.round(performance.now() - copyStarted);
    emit({ type: 'step', message: `rehearsing on a copy (${(copyMs / 1000).toFixed(1)}s to copy); the live database is not touched` });

    const handle = await copy.openKnex();
    const rehearsal = rehearse(handle.knex, copy, options.config.thresholds.largeTableRows);
    // The same refusals as the real run: a damaged database, an edited applied migration.
    const plan = await buildPlan({
      engine: copy,
      subject: live,
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
    // The rehearsal's transactions, measured as the real run's are: the estimate of its locks.
    const timings: LockTimings = {};
    plan.executor.configure({ policy: null, retry: { timeoutMs: 0, retries: 0, budgetMs: 0 }, onRetry: () => undefined, timings });
    let checksMs = 0;
    try {
      if (plan.files) assertAppliedUnchanged(plan.applied, plan.files, settings.validateApplied);
      const { pending } = plan;
      let current: string | null = null;
      plan.umzug.on(direction.events.starting, ({ name }) => {
        current = name;
      });
      let failed = false;
      const written = plan.handle.watchWrites();
      try {
        await direction.run(plan.umzug, pending);
      } catch (error) {
        failed = true;
        if (current !== null) rehearsal.failed(current, fullMessageOf((error as { cause?: unknown }).cause ?? error));
      }

      let checks: CheckResult[] = [];
      if (!failed && pending.length > 0) {
        const db = plan.executor.reads;
        const checksStarted = performance.now();
        // The same checks the real run makes, on what the rehearsal wrote.
        checks = await runChecks({
          engine: copy,
          reader: copy.reader(db),
          knex: db,
          changed: await written(copy.reader(db)),
          checks: options.config.checks,
          onStart: (label) => emit({ type: 'working', label: `${label} (on the rehearsal copy)` }),
        });
        checksMs = performance.now() - checksStarted;
      }
      const entries = pending.map(
        (name): PlannedMigration =>
          rehearsal.plan.get(name) ?? { name, status: 'not-run', ok: false, sql: [], warnings: [], durationMs: null, error: null },
      );
      const ok = !failed && checks.every((check) => check.ok);
      const failing = entries.find((entry) => entry.status === 'would-fail');
      const failedChecks = checks.filter((check) => !check.ok);
      return {
        command: direction.command,
        dryRun: true,
        ok,
        exitCode: ok ? 0 : 1,
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
        copyMs,
        durationMs: Math.round(performance.now() - started),
        timings: { lockHeldMs: Math.round((timings.lockHeldMs ?? 0) + checksMs), lockWaitMs: 0 },
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
 * Watches the migrations run on the copy: every statement knex sends (bindings inlined), and the
 * schema before and after each migration, which the destructive-change warnings are read from.
 * Capture starts before a migration's transaction opens, so the plan shows its BEGIN, and stops
 * after the migration's own work, before the history row is written.
 */
function rehearse(knex: Knex, engine: Pick<Engine, 'inspect' | 'reader' | 'lockWarnings'>, largeTableRows: number): Rehearsal {
  let capturing = false;
  let statements: string[] = [];
  let before: SchemaShape = new Map();
  let stepStarted = 0;
  const plan = new Map<string, PlannedMigration>();
  knex.on('query', (query: { sql: string; bindings?: readonly unknown[] }) => {
    if (!capturing) return;
    const sql = inlineBindings(knex, query.sql, query.bindings ?? []);
    // knex sends `BEGIN;` for a transaction; the plan lists statements without their terminator.
    statements.push(sql.replace(/;\s*$/, ''));
  });
  return {
    plan,
    observer: {
      beforeStep: async () => {
        before = await engine.inspect(engine.reader(knex));
        statements = [];
        capturing = true;
        stepStarted = performance.now();
      },
      afterStep: async (name, db) => {
        capturing = false;
        const durationMs = Math.round(performance.now() - stepStarted);
        const after = await engine.inspect(engine.reader(db));
        plan.set(name, {
          name,
          status: 'would-apply',
          ok: true,
          sql: statements,
          warnings: [
            ...destructiveWarnings(before, after, statements, { largeTableRows }),
            ...engine.lockWarnings(statements, before, largeTableRows),
          ],
          durationMs,
          error: null,
        });
      },
    },
    failed(name, error) {
      const rehearsed = plan.get(name);
      plan.set(name, {
        name,
        status: 'would-fail',
        ok: false,
        sql: rehearsed?.sql ?? statements,
        warnings: rehearsed?.warnings ?? [],
        durationMs: rehearsed?.durationMs ?? null,
        error,
      });
    },
  };
}
