import { compareRows, countRows, type RowCounts, type RowsVerdict } from '../checks/rows.ts';
import type { ChangedSet, Reader } from '../engines/contract.ts';
import { messageOf } from '../errors.ts';
import { migrationPaths, projectReader } from '../migrator/project-umzug.ts';
import { allowedBy, readReview, ROWS_SHRUNK, type MigrationReview } from '../migrator/review.ts';
import type { Group } from './group.ts';
import type { Plan } from './plan.ts';
import type { Run } from './run.ts';

/** The `rows` check of one run, ready before anything changes. */
export interface RowsCheck {
  /** Reads every table's rows (and a commit mark) as the migrations begin. Never throws: a failed read fails the check. */
  begin(group: Group | null): Promise<RowsWatch>;
}

export interface RowsWatch {
  /** Compares with the rows after the migrations; `ran`: the migrations that ran (their `review` counts). */
  check(changed: ChangedSet | null, ran: readonly string[]): Promise<RowsVerdict>;
}

/**
 * Prepares the `rows` check (null when the config turns it off): the planned migrations' `review`
 * declarations are read now, so one migrate-guard cannot read refuses the run before the backup.
 * A rollout only: `down` reverts, and reverting a migration that added rows deletes them by nature
 * (a `.down.sql` has no way to declare it).
 */
export async function prepareRowsCheck(run: Run, plan: Plan): Promise<RowsCheck | null> {
  const settings = run.config.checks.rows;
  if (!settings.enabled || run.direction.name !== 'up') return null;
  const reviews = await readReviews(run, plan);
  const { engine } = run;
  // The connection the migrations run on tells whether someone else committed meanwhile: ours, or
  // the project Umzug's own (its commits would otherwise look like the application's).
  const markReader = async (): Promise<Reader | null> =>
    run.source.kind === 'folder' ? engine.reader(plan.executor.reads) : await projectReader(run.source.umzug).catch(() => null);
  return {
    async begin(group) {
      let before: RowCounts;
      let marks: { reader: Reader; mark: string } | null = null;
      try {
        // The mark first: a commit of the application's between it and the counts then shows as
        // one (the split is not made), never as rows the run removed.
        const on = await markReader();
        if (on) marks = { reader: on, mark: await engine.commitMark(on) };
        const reader = engine.reader(plan.executor.reads);
        const tables = await engine.listTables(reader);
        // A group read them already, inside its transaction (holding the write lock on SQLite): not read twice.
        const counted = group?.before.tables;
        before = counted
          ? Object.fromEntries(tables.map((table) => [table, counted[table] ?? 0]))
          : await countRows(engine, reader, tables);
      } catch (error) {
        const detail = `the row counts before the run could not be read: ${messageOf(error)}`;
        return { check: async () => ({ result: { name: 'rows', ok: false, detail }, warnings: [] }) };
      }
      return {
        async check(changed, ran) {
          const reader = engine.reader(plan.executor.reads);
          const existing = await engine.listTables(reader);
          const present = Object.keys(before).filter((table) => existing.includes(table));
          // A complete write set names every table whose rows a statement deleted; foreign keys
          // turned on (cascades no statement names) or an incomplete set: every table.
          const everything = changed === null || changed.unknown !== null || changed.foreignKeysOn === true;
          const counted = everything ? present : present.filter((table) => changed.rowsChanged.includes(table));
          const after = await countRows(engine, reader, counted);
          const removedByRun: Record<string, number | null> = {};
          for (const table of counted.filter((name) => after[name]! < before[name]!)) {
            removedByRun[table] =
              marks === null ? null : await engine.removedByRun(marks.reader, marks.mark, table, before[table]!, after[table]!);
          }
          return compareRows({
            before,
            after,
            existing,
            removedByRun,
            unsplitReason:
              marks === null
                ? "the project Umzug's connection is out of reach, so the application's commits cannot be told from its migrations'"
                : 'another connection (the application?) committed during the run',
            foreignKeysOn: changed?.foreignKeysOn === true,
            allowedBy: (table) => allowedBy(reviews, ran, ROWS_SHRUNK, table),
            warnTables: settings.warn,
          });
        },
      };
    },
  };
}

/** Each planned migration's `review` (a project Umzug's where umzug knows the file). */
async function readReviews(run: Run, plan: Plan): Promise<ReadonlyMap<string, MigrationReview>> {
  const paths =
    plan.files !== null
      ? new Map(plan.files.map((file) => [file.name, file.path]))
      : run.source.kind === 'umzug'
        ? await migrationPaths(run.source.umzug)
        : new Map<string, string>();
  const reviews = new Map<string, MigrationReview>();
  for (const name of plan.pending) reviews.set(name, await readReview(name, paths.get(name) ?? null));
  return reviews;
}
