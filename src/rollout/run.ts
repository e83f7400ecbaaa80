import path from 'node:path';
import type { Knex } from 'knex';
import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine, EngineKind } from '../engines/contract.ts';
import { engineFor } from '../engines/select.ts';
import { waitsOf, type EventListener } from '../events.ts';
import type { MigrationHistory } from '../history/contract.ts';
import { resolveHistory } from '../history/select.ts';
import { KNEX_LOAD_EXTENSIONS } from '../history/knex-table.ts';
import { folderSettings, type MigrationsSettings } from '../config/locations.ts';
import type { MigrationLayout, MigrationNaming } from '../migrator/migration-files.ts';
import { umzugHistory } from '../history/user-umzug.ts';
import { loadProjectUmzug, type ProjectUmzug } from '../migrator/project-umzug.ts';
import { hookRunner, type HookRunner } from '../hooks/hook-runner.ts';
import { requireBackupMethod } from '../backup/method.ts';
import { DOWN, UP, type Direction } from './direction.ts';
import type { MigrateReport, Phase, Timings } from './report.ts';
import type { Selection } from './select-migrations.ts';

export interface MigrateOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  readonly migrationsDir: string;
  /** The knexfile's migrations settings (folders, knex's table); default: `migrationsDir` alone. */
  readonly migrations?: MigrationsSettings;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  /** `up` applies pending migrations (migrate); `down` reverts applied ones. Default `up`. */
  readonly direction?: 'up' | 'down';
  /** up: apply up to and including this one; down: revert down to and including this one. */
  readonly to?: string;
  /** Only this many migrations (down: default 1). */
  readonly step?: number;
  /** Create the database when it does not exist (a fresh install). */
  readonly createIfMissing?: boolean;
  /** Aborting (SIGINT/SIGTERM in the CLI) stops the run and restores the backup. */
  readonly signal?: AbortSignal;
  readonly onEvent?: EventListener;
  /** Working directory for hooks. */
  readonly cwd?: string;
  /**
   * Bring your own Umzug (any storage, any context): it runs the migrations and its storage is the
   * history, so the applied-migration checksum check is skipped. The config's `umzug` module is
   * loaded into this when it is not given.
   */
  readonly umzug?: ProjectUmzug;
  /** The Knex instance the checks read through (default: one of our own on `database`). */
  readonly knex?: Knex;
}

/** Where the migrations come from: files (in the history's naming), or a project's own Umzug. */
export type MigrationSource = FolderSource | { readonly kind: 'umzug'; readonly umzug: ProjectUmzug; readonly knex: Knex | null };

export interface FolderSource {
  readonly kind: 'folder';
  readonly layout: MigrationLayout;
  readonly naming: MigrationNaming;
  readonly validateApplied: boolean;
}

/** Everything the phases of one rollout share; built once, read by all, changed by none. */
export interface Run {
  readonly direction: Direction;
  readonly engine: Engine;
  readonly history: MigrationHistory;
  readonly source: MigrationSource;
  readonly backupDir: string;
  readonly config: ResolvedConfig;
  readonly selection: Selection;
  readonly createIfMissing: boolean;
  readonly signal: AbortSignal | undefined;
  readonly emit: EventListener;
  readonly hooks: HookRunner;
  /** Wall time per phase, filled as phases finish; the locks' times, as the executor measures them. */
  readonly timings: Timings;
  readonly startedAt: number;
}

/** The run's fixed facts. Paths are absolute from here on: a journal must still point right from another cwd. */
export async function startRun(options: MigrateOptions): Promise<Run> {
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  requireBackupMethod(engine, options.config);
  const emit: EventListener = options.onEvent ?? (() => undefined);
  const settings = options.migrations ?? folderSettings(options.migrationsDir);
  // The database's own crash recovery comes first, alone on one connection, before anything else
  // of this run opens it (the history's reads, the lock holder's, knex's): waited for while busy.
  await engine.settle({ write: true, onWait: waitsOf(emit) });
  const umzug = options.umzug ?? (await loadProjectUmzug(options.config));
  const history = umzug ? umzugHistory(umzug) : await resolveHistory(engine, settings);
  const source: MigrationSource = umzug ? { kind: 'umzug', umzug, knex: options.knex ?? null } : filesOf(settings, history);
  return {
    direction: options.direction === 'down' ? DOWN : UP,
    engine,
    history,
    source,
    backupDir: path.resolve(options.backupDir),
    config: options.config,
    selection: { to: options.to, step: options.step },
    createIfMissing: options.createIfMissing ?? false,
    signal: options.signal,
    emit,
    hooks: hookRunner({
      hooks: { ...options.config.hooks, verifyCommand: options.config.backups.verifyCommand },
      cwd: options.cwd ?? process.cwd(),
      env: { MIGRATE_GUARD_DATABASE: engine.name },
      emit,
    }),
    timings: { lockHeldMs: 0, lockWaitMs: 0 },
    startedAt: performance.now(),
  };
}

/** The migration files as the history names them; a knex history counts knex's extensions by default. */
export function filesOf(settings: MigrationsSettings, history: MigrationHistory): FolderSource {
  const { layout } = settings;
  const extensions = layout.extensions ?? (history.naming === 'file-name' ? KNEX_LOAD_EXTENSIONS : null);
  return { kind: 'folder', layout: { ...layout, extensions }, naming: history.naming, validateApplied: settings.validateApplied };
}

/** Runs a phase and records its wall time under `phase`. */
export async function timed<T>(run: Run, phase: Phase, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    run.timings[phase] = Math.round(performance.now() - started);
  }
}

/** The report every ending of a run builds from, with what that ending changes. */
export function report(run: Run, fields: Partial<MigrateReport> & Pick<MigrateReport, 'exitCode'>): MigrateReport {
  return {
    command: run.direction.command,
    ok: fields.exitCode === 0,
    database: run.engine.name,
    applied: [],
    reverted: [],
    pending: [],
    backup: null,
    restored: false,
    undo: null,
    failed: null,
    checks: [],
    migrations: [],
    recovered: null,
    preRestoreCopy: null,
    restoreError: null,
    hooks: run.hooks.results,
    durationMs: Math.round(performance.now() - run.startedAt),
    timings: run.timings,
    manualRestore: null,
    ...fields,
  };
}
