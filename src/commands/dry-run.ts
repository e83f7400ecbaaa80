import { mkdtemp, rm } from 'node:fs/promises';
import type { Knex } from 'knex';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onlineCopy } from '../backup/online-copy.ts';
import { runChecks, type CheckResult } from '../checks/index.ts';
import type { ResolvedConfig } from '../config.ts';
import { assertSqliteFile, SqliteConnection } from '../db.ts';
import { openKnex } from '../knex.ts';
import { messageOf, type ExitCode } from '../errors.ts';
import type { EventListener } from '../events.ts';
import { pathExists } from '../files.ts';
import { inspectSchema, type SchemaShape } from '../dry-run/inspect.ts';
import { destructiveWarnings } from '../dry-run/warnings.ts';
import { createMigrator } from '../migrator/umzug.ts';
import { planDown, planUp, readMigrationState, type Direction } from './plan.ts';
import { assertAppliedUnchanged } from '../preflight.ts';
import { changedDatabase, readJournal } from '../journal.ts';

export interface DryRunOptions {
  readonly database: string;
  readonly migrationsDir: string;
  readonly config: ResolvedConfig;
  readonly direction?: Direction;
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
}

/**
 * Rehearses the pending migrations on a scratch copy of the live database, taken with the online
 * backup API through a connection that writes nothing (the -shm included), and reports what they
 * did there: statements, timing, destructive effects, and whether they and the checks pass.
 * Takes no lock and writes nothing beside the live database or in the backup folder.
 */
export async function runDryRun(options: DryRunOptions): Promise<DryRunReport> {
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const direction = options.direction ?? 'up';
  const started = performance.now();
  const database = path.resolve(options.database);
  const exists = await pathExists(database);
  if (exists) await assertSqliteFile(database);
  const notes: string[] = [];
  const interrupted = await readJournal(database);
  if (interrupted && changedDatabase(interrupted)) {
    notes.push(
      `an interrupted ${interrupted.command} (pid ${interrupted.pid}) left the database changed: the real run will first restore ${interrupted.backup}, so it will start from that state, not this one`,
    );
    emit({ type: 'warning', message: notes[notes.length - 1]! });
  }

  const scratch = await mkdtemp(path.join(options.scratchDir ?? tmpdir(), 'migrate-guard-dry-run-'));
  const copy = path.join(scratch, 'rehearsal.db');
  try {
    const copyStarted = performance.now();
    if (exists) {
      const source = await SqliteConnection.openUntouched(database);
      try {
        const mode = await source.get<{ journal_mode: string }>('PRAGMA journal_mode');
        await onlineCopy(source.raw, copy, 'to-file', {
          onProgress: (done, total) => emit({ type: 'progress', task: 'backup', done, total }),
          oneStep: mode?.journal_mode === 'wal',
        });
      } finally {
        await source.close();
      }
    } else {
      emit({ type: 'step', message: `database ${database} does not exist yet: rehearsing on an empty one` });
    }
    const copyMs = Math.round(performance.now() - copyStarted);
    emit({ type: 'step', message: `rehearsing on a copy (${(copyMs / 1000).toFixed(1)}s to copy); the live database is not touched` });

    const { knex } = openKnex(copy);
    try {
      let capturing = false;
      let statements: string[] = [];
      let before: SchemaShape = new Map();
      let stepStarted = 0;
      const plan = new Map<string, PlannedMigration>();
      const capture = (sql: string) => {
        if (capturing) statements.push(sql);
      };
      knex.on('query', (query: { sql: string; bindings?: readonly unknown[] }) => {
        const bindings = query.bindings ?? [];
        capture(bindings.length > 0 ? knex.raw(query.sql, bindings as Knex.RawBinding[]).toQuery() : query.sql);
      });
      const migrator = await createMigrator(knex, options.migrationsDir, {
        beforeStep: async () => {
          before = await inspectSchema(knex);
          statements = [];
          capturing = true;
          stepStarted = performance.now();
        },
        afterStep: async (name) => {
          capturing = false;
          const durationMs = Math.round(performance.now() - stepStarted);
          const after = await inspectSchema(knex);
          plan.set(name, {
            name,
            status: 'would-apply',
            ok: true,
            sql: statements,
            warnings: destructiveWarnings(before, after, statements, { largeTableRows: options.config.thresholds.largeTableRows }),
            durationMs,
            error: null,
          });
        },
        onSqlStatement: capture,
      });
      // The same refusals as the real run: a damaged database, an edited applied migration.
      const { pendingAll, executed } = await readMigrationState(migrator.umzug, database);
      await assertAppliedUnchanged(migrator.storage, migrator.files);
      const selection = { to: options.to, step: options.step };
      const pending =
        direction === 'up' ? planUp(pendingAll, executed, selection) : await planDown(executed, migrator.files, selection);

      let current: string | null = null;
      migrator.umzug.on(direction === 'up' ? 'migrating' : 'reverting', ({ name }) => {
        current = name;
      });
      let failed = false;
      try {
        if (direction === 'up') await migrator.umzug.up({ migrations: pending });
        else await migrator.umzug.down({ migrations: pending });
      } catch (error) {
        failed = true;
        const name = current;
        if (name !== null) {
          const rehearsed = plan.get(name);
          plan.set(name, {
            name,
            status: 'would-fail',
            ok: false,
            sql: rehearsed?.sql ?? statements,
            warnings: rehearsed?.warnings ?? [],
            durationMs: rehearsed?.durationMs ?? null,
            error: messageOf((error as { cause?: unknown }).cause ?? error),
          });
        }
      }

      let checks: CheckResult[] = [];
      if (!failed && pending.length > 0) {
        checks = await runChecks({ database: copy, knex, checks: options.config.checks });
      }
      const entries = pending.map(
        (name): PlannedMigration =>
          plan.get(name) ?? { name, status: 'not-run', ok: false, sql: [], warnings: [], durationMs: null, error: null },
      );
      const ok = !failed && checks.every((check) => check.ok);
      const failing = entries.find((entry) => entry.status === 'would-fail');
      const failedChecks = checks.filter((check) => !check.ok);
      return {
        command: direction === 'up' ? 'migrate' : 'down',
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
      };
    } finally {
      await knex.destroy();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
