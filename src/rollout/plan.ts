import type { Knex } from 'knex';
import type { ChangedSet, Engine, KnexHandle } from '../engines/contract.ts';
import { refusalIfDamaged } from '../engines/damage.ts';
import { messageOf } from '../errors.ts';
import type { AppliedMigration, MigrationHistory } from '../history/contract.ts';
import { readHistory } from '../history/read.ts';
import { TransactionOwner, type Executor } from '../migrator/executor.ts';
import { retryMessage } from '../migrator/lock-retry.ts';
import { listMigrationFiles, type MigrationFile } from '../migrator/migration-files.ts';
import type { ProjectUmzug } from '../migrator/project-umzug.ts';
import { checkMigrations, isTransactional } from '../migrator/load-script.ts';
import type { StepObserver } from '../migrator/umzug.ts';
import type { Direction, MigrationState } from './direction.ts';
import type { MigrationSource, Run } from './run.ts';
import { planUp, type Selection } from './select-migrations.ts';

/** What this run will do, and the open connection it will do it through. */
export interface Plan {
  /** The migrations this run applies (or reverts), in order. */
  readonly pending: readonly string[];
  readonly applied: readonly AppliedMigration[];
  /** The migration files, when the run reads a folder (a project's own Umzug has none to show). */
  readonly files: readonly MigrationFile[] | null;
  readonly umzug: ProjectUmzug;
  /**
   * `group`: every migration, history row and check in one transaction that commits only once the
   * backup is proven and the checks passed (a failure is a rollback); `per-migration`: each in its
   * own transaction, a failure undone by restoring the backup (a migration that opts out of
   * transactions, a project Umzug, or the config asks for it).
   */
  readonly mode: TransactionMode;
  readonly executor: TransactionOwner;
  /** The connection the migrations run through (ours, or the project's for a project Umzug's checks). */
  readonly handle: KnexHandle;
  /** The plan's connection outside any transaction: for what others must see at once. */
  readonly root: Knex;
  /** What had run before this run started, as the history said then. */
  readonly executedBefore: readonly string[];
  /** Closes the connection; safe to call again, never throws. */
  close(): Promise<void>;
}

/**
 * The common case in a deploy: nothing pending. Answered from the files and the history alone,
 * through a read that writes nothing, before knex and umzug are even loaded.
 */
export async function nothingPending(run: Run): Promise<boolean> {
  if (run.direction.name !== 'up' || run.source.kind !== 'folder') return false;
  const files = await listMigrationFiles(run.source.layout, run.source.naming);
  const applied = (await readHistory(run.engine, run.history)).map((migration) => migration.name);
  const known = new Set(applied);
  const pending = files.filter((file) => !known.has(file.name)).map((file) => file.name);
  return planUp(pending, applied, run.selection).length === 0;
}

/** The rollout's plan: on the live database; a signal from here on interrupts the running statement. */
export async function openPlan(run: Run): Promise<Plan> {
  const handle = await connect(run.engine, run.source);
  const onAbort = () => handle.interrupt();
  const plan = await buildPlan({
    ...run,
    handle,
    subject: run.engine,
    transactions: run.config.transactions,
    transactionalDdl: run.engine.transactionalDdl,
  });
  run.signal?.addEventListener('abort', onAbort);
  await configureLocks(run, plan);
  return {
    ...plan,
    async close() {
      run.signal?.removeEventListener('abort', onAbort);
      // Closing a connection must never turn a finished rollout or a proven restore into a failure.
      await plan
        .close()
        .catch((error: unknown) =>
          run.emit({ type: 'warning', message: `could not close the migration connection cleanly: ${messageOf(error)}` }),
        );
    },
  };
}

/**
 * The migrations' lock timeout (PostgreSQL), its retries, and where the executor writes the locks'
 * times. A project Umzug runs its migrations on connections of its own: no lock timeout of ours.
 */
async function configureLocks(run: Run, plan: Plan): Promise<void> {
  const { locks } = run.config;
  const policy =
    run.source.kind === 'folder'
      ? ((await run.engine.lockPolicy?.(plan.handle.knex, locks.timeout).catch(async (error: unknown) => {
          await plan.close();
          throw error;
        })) ?? null)
      : null;
  plan.executor.configure({
    policy,
    retry: { timeoutMs: locks.timeout, retries: locks.retries, budgetMs: locks.budget },
    onRetry: (event) => run.emit({ type: 'warning', message: retryMessage(event) }),
    timings: run.timings,
  });
}

/**
 * The connection the migrations (ours) or the checks (a project Umzug's) go through: the engine's
 * own, or a project's knex (theirs to close, not ours to interrupt). A project Umzug runs its
 * migrations on connections of its own, so what they write cannot be watched: its checks take the
 * whole database.
 */
export async function connect(engine: Pick<Engine, 'openKnex'>, source: MigrationSource): Promise<KnexHandle> {
  if (source.kind === 'folder') return engine.openKnex();
  const handle: KnexHandle = source.knex
    ? { knex: source.knex, interrupt: () => undefined, destroy: async () => undefined, watchWrites: () => async () => UNWATCHED }
    : await engine.openKnex();
  return { ...handle, watchWrites: () => async () => UNWATCHED };
}

const UNWATCHED: ChangedSet = { tables: [], rowsChanged: [], unknown: 'a project Umzug runs its migrations on connections of its own' };

export interface PlanInput {
  readonly engine: Pick<Engine, 'reader' | 'splitSql' | 'runSqlStatement' | 'statementFailure'>;
  /** The database people know, named when it turns out to be damaged (a dry run works on a copy of it). */
  readonly subject: Pick<Engine, 'damage' | 'name'>;
  readonly history: MigrationHistory;
  readonly source: MigrationSource;
  readonly direction: Direction;
  readonly selection: Selection;
  readonly handle: KnexHandle;
  readonly observer?: StepObserver;
  /** The config's choice; a run that cannot be grouped runs per migration whatever it says. */
  readonly transactions: TransactionMode;
  readonly transactionalDdl: boolean;
}

export type TransactionMode = 'group' | 'per-migration';

/**
 * Builds (or borrows) the umzug instance on the handle's connection and decides what runs. The
 * handle is destroyed when the plan closes, or right away when planning refuses.
 */
export async function buildPlan(input: PlanInput): Promise<Plan> {
  const { handle, source } = input;
  try {
    const executor = new TransactionOwner(handle.knex);
    let files: readonly MigrationFile[] | null = null;
    let umzug: ProjectUmzug;
    if (source.kind === 'folder') {
      files = await listMigrationFiles(source.layout, source.naming);
      const { createMigrator } = await import('../migrator/umzug.ts');
      umzug = createMigrator({
        engine: input.engine,
        history: input.history,
        files,
        executor,
        ...(input.observer ? { observer: input.observer } : {}),
      });
    } else {
      umzug = source.umzug;
    }
    const [state, applied] = await readState(input, umzug, executor);
    const pending = await input.direction.choose(state, files, input.selection);
    // Every migration that will run loads and has its up (or down), before anything changes.
    if (files !== null)
      await checkMigrations(
        files.filter((file) => pending.includes(file.name)),
        input.direction.name,
      );
    const mode = await chooseMode(input, files, pending);
    let closed = false;
    return {
      pending,
      applied,
      files,
      umzug,
      mode,
      executor,
      handle,
      root: handle.knex,
      executedBefore: state.executed,
      async close() {
        if (closed) return;
        closed = true;
        await handle.destroy();
      },
    };
  } catch (error) {
    await handle.destroy().catch(() => undefined);
    throw error;
  }
}

/** What ran and what is pending; a database too damaged to tell is refused, not crashed on. */
async function readState(input: PlanInput, umzug: ProjectUmzug, executor: Executor): Promise<[MigrationState, AppliedMigration[]]> {
  try {
    const pending = (await umzug.pending()).map((migration) => migration.name);
    const executed = (await umzug.executed()).map((migration) => migration.name);
    const applied = await input.history.applied(input.engine.reader(executor.reads));
    return [{ pending, executed, lastBatch: lastBatchOf(applied) }, applied];
  } catch (error) {
    throw refusalIfDamaged(input.subject, error);
  }
}

/** The migrations of the highest batch, when the history numbers batches (knex's). */
export function lastBatchOf(applied: readonly AppliedMigration[]): string[] | null {
  const batches = applied.map((migration) => migration.batch).filter((batch): batch is number => typeof batch === 'number');
  if (batches.length === 0) return null;
  const last = Math.max(...batches);
  return applied.filter((migration) => migration.batch === last).map((migration) => migration.name);
}

/** A group needs transactional DDL and every planned migration inside a transaction: one that opts out makes the run per migration. */
async function chooseMode(input: PlanInput, files: readonly MigrationFile[] | null, pending: readonly string[]): Promise<TransactionMode> {
  if (input.transactions !== 'group' || !input.transactionalDdl || files === null) return 'per-migration';
  for (const file of files.filter((candidate) => pending.includes(candidate.name))) {
    if (!(await isTransactional(file))) return 'per-migration';
  }
  return 'group';
}
