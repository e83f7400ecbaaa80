import type { ColumnShape, EngineFinding, SchemaShape } from '../engines/contract.ts';
import type { RuleId, Severity } from './rules.ts';

/** A statement a migration ran on the copy, with when it started and how long it took there. */
export interface TimedStatement {
  readonly sql: string;
  /** `performance.now()` when knex sent it. */
  readonly startedAt: number;
  /** Null when no answer came (the statement failed). */
  readonly durationMs: number | null;
}

/** What a rule found in one migration, before the migration's file and its allow-list are known. */
export interface Detected {
  readonly rule: RuleId;
  readonly table: string | null;
  readonly column: string | null;
  readonly message: string;
  /** The statement that did it, when one did. */
  readonly statement: string | null;
  /** Measured on the copy: the rewrite's or the lock's time. */
  readonly durationMs: number | null;
  /** The table's rows before the migration, where the rule depends on them. */
  readonly rows: number | null;
}

/** One finding of the dry run's review, as the JSON report, SARIF, JUnit and markdown carry it. */
export interface Finding extends Detected {
  readonly severity: Severity;
  readonly migration: string;
  /** The migration's file relative to the working directory (the repository root in CI), `/`-separated; null when unknown. */
  readonly file: string | null;
  /** The line in that file it was located at (best effort: where the table or column is named); null without a file. */
  readonly line: number | null;
  /** Why it does not count: the migration (`exports.review`, `-- migrate-guard:allow`) or the config allows it; null: it counts. */
  readonly allowedBy: 'migration' | 'config' | null;
}

export interface DetectOptions {
  /** A rewrite of a table with at least this many rows is reported. */
  readonly largeTableRows: number;
  /** A migration holding locks at least this long on the copy is reported. */
  readonly longLockMs: number;
}

/** knex rebuilds a SQLite table for most `alterTable` changes through a temporary copy. */
const REBUILD = /ALTER TABLE [`"[]?(_knex_temp_alter\d+)[`"\]]? RENAME TO [`"[]?([^`"\]\s]+)/i;
/** DELETE / UPDATE [OR …] at the start, or after a WITH clause; group 1 the verb, 2 the table. */
const WRITE = /(?:^|\)\s*)(DELETE\s+FROM|UPDATE(?:\s+OR\s+(?:ROLLBACK|ABORT|REPLACE|FAIL|IGNORE))?)\s+([`"[]?[^`"\]\s(]+)/i;
const NAME = String.raw`((?:[\`"\[][^\`"\]]+[\`"\]]|[\w$]+)(?:\.(?:[\`"\[][^\`"\]]+[\`"\]]|[\w$]+))?)`;
const ALTER = String.raw`^alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?${NAME}\s+`;
const RENAME_TABLE = new RegExp(`${ALTER}rename\\s+to\\s+${NAME}`, 'i');
const RENAME_COLUMN = new RegExp(`${ALTER}rename\\s+(?:column\\s+)?(?!to\\b)${NAME}\\s+to\\s+${NAME}`, 'i');

/** A name as a statement wrote it (`"public"."items"`, `` `items` ``, `[items]`) as the schema lists it. */
export function bareName(raw: string): string {
  const last = raw.match(/(?:[`"[][^`"\]]+[`"\]]|[^.]+)$/)?.[0] ?? raw;
  return last.replace(/^[`"[]/, '').replace(/[`"\]]$/, '');
}

/** A statement that takes a lock the application would wait on (a schema change or a write). */
export function takesLocks(sql: string): boolean {
  return /^\s*(insert|update|delete|replace|create|alter|drop|truncate|rename|reindex|vacuum|cluster|refresh|comment|grant|revoke|with)\b/i.test(
    withoutLeadingComments(sql),
  );
}

/**
 * How long a migration held locks the application waits on, estimated from the copy: inside a
 * transaction, from its first locking statement until the migration's work ended (locks are kept
 * until the commit); without one, each locking statement's own time.
 */
export function lockHeldMs(statements: readonly TimedStatement[], endedAt: number): number {
  const inTransaction = statements.some((statement) => /^\s*(begin|start transaction|savepoint)\b/i.test(statement.sql));
  const locking = statements.filter((statement) => takesLocks(statement.sql));
  if (locking.length === 0) return 0;
  if (inTransaction) return Math.max(0, Math.round(endedAt - locking[0]!.startedAt));
  return Math.round(locking.reduce((sum, statement) => sum + (statement.durationMs ?? 0), 0));
}

/**
 * What one migration did that the rules report: read from the schema and row counts before and
 * after it ran on the copy, from the statements it executed there and their times, and from what
 * the engine knows of its own locks (`engine`).
 */
export function detect(
  before: SchemaShape,
  after: SchemaShape,
  statements: readonly TimedStatement[],
  engine: readonly EngineFinding[],
  lockMs: number,
  options: DetectOptions,
): Detected[] {
  const found: Detected[] = [];
  const add = (entry: Partial<Detected> & Pick<Detected, 'rule' | 'message'>) =>
    found.push({ table: null, column: null, statement: null, durationMs: null, rows: null, ...entry });
  const renamedTables = new Map<string, string>();
  const renamedColumns = new Map<string, Map<string, string>>();
  const rebuilt = new Map<string, { temp: string; index: number }>();

  statements.forEach(({ sql }, index) => {
    const flat = withoutLeadingComments(sql).replace(/\s+/g, ' ').trim();
    const rebuild = REBUILD.exec(flat);
    if (rebuild) {
      rebuilt.set(rebuild[2]!, { temp: rebuild[1]!, index });
      return;
    }
    const table = RENAME_TABLE.exec(flat);
    if (table) {
      const [from, to] = [bareName(table[1]!), bareName(table[2]!)];
      if (!from.startsWith('_knex_temp_alter')) {
        renamedTables.set(from, to);
        add({ rule: 'rename-table', table: from, message: `renames table ${from} to ${to}`, statement: sql });
      }
      return;
    }
    const column = RENAME_COLUMN.exec(flat);
    if (column) {
      const [tableName, from, to] = [bareName(column[1]!), bareName(column[2]!), bareName(column[3]!)];
      const columns = renamedColumns.get(tableName) ?? new Map<string, string>();
      columns.set(from, to);
      renamedColumns.set(tableName, columns);
      add({
        rule: 'rename-column',
        table: tableName,
        column: from,
        message: `renames column ${tableName}.${from} to ${to}`,
        statement: sql,
      });
      return;
    }
    // Judge the statement without its string literals: `SET note = 'WHERE'` has no WHERE clause.
    const code = flat.replace(/'(?:[^']|'')*'/g, "''");
    const write = /^(DELETE|UPDATE|WITH)\b/i.test(code) ? WRITE.exec(code) : null;
    const written = write?.[2] ? bareName(write[2]) : null;
    if (write && written && !/\bWHERE\b/i.test(code) && !written.startsWith('_knex_temp_alter')) {
      const verb = write[1]!.split(/\s+/)[0]!.toUpperCase();
      add({
        rule: verb === 'DELETE' ? 'unbounded-delete' : 'unbounded-update',
        table: written,
        message: `${verb} without WHERE on ${written}: ${oneLine(sql)}`,
        statement: sql,
        rows: before.get(written)?.rows ?? null,
      });
    }
  });

  for (const [table, shape] of before) {
    const renamedTo = renamedTables.get(table);
    const now = after.get(renamedTo ?? table);
    if (!now) {
      add({
        rule: 'drop-table',
        table,
        message: `drops table ${table} (${shape.rows} rows)`,
        rows: shape.rows,
        statement: dropStatement(statements, table),
      });
      continue;
    }
    const renames = renamedColumns.get(table) ?? new Map<string, string>();
    const nameNow = (column: string) => renames.get(column) ?? column;
    for (const column of shape.columns) {
      const current = now.columns.find((c) => c.name === nameNow(column.name));
      if (!current) {
        add({ rule: 'drop-column', table, column: column.name, message: `drops column ${table}.${column.name}` });
        continue;
      }
      if (typeChanged(column, current)) {
        add({
          rule: 'column-type-change',
          table,
          column: column.name,
          message: `changes the type of ${table}.${column.name} from ${column.type} to ${current.type}`,
        });
      }
      if (current.notNull && !current.hasDefault && !column.notNull && shape.rows > 0) {
        add({
          rule: 'not-null-without-default',
          table,
          column: column.name,
          rows: shape.rows,
          message: `makes ${table}.${column.name} NOT NULL without a default on a table with ${shape.rows} rows`,
        });
      }
    }
    const renamedNames = new Set(renames.values());
    for (const column of now.columns) {
      const isNew = !renamedNames.has(column.name) && !shape.columns.some((c) => c.name === column.name);
      if (isNew && column.notNull && !column.hasDefault && shape.rows > 0) {
        add({
          rule: 'not-null-without-default',
          table,
          column: column.name,
          rows: shape.rows,
          message: `adds NOT NULL column ${table}.${column.name} without a default`,
        });
      }
    }
    if (now.rows < shape.rows) {
      add({ rule: 'rows-shrunk', table, rows: shape.rows, message: `row count of ${table} shrank: ${shape.rows} → ${now.rows}` });
    }
    const rebuild = rebuilt.get(table);
    if (rebuild && shape.rows >= options.largeTableRows) {
      const ms = rebuildMs(statements, rebuild.temp, rebuild.index);
      add({
        rule: 'table-rewrite',
        table,
        rows: shape.rows,
        durationMs: ms,
        statement: statements[rebuild.index]!.sql,
        message: `rebuilds table ${table} (${shape.rows} rows): every row is copied while the write lock is held (${ms} ms on the copy)`,
      });
    }
  }

  for (const entry of engine) {
    const statement = statements[entry.statement];
    add({
      rule: entry.rule,
      table: entry.table,
      rows: entry.rows,
      statement: statement?.sql ?? null,
      durationMs: entry.rule === 'table-rewrite' ? (statement?.durationMs ?? null) : null,
      message:
        entry.rule === 'table-rewrite' && statement?.durationMs != null
          ? `${entry.message} (${statement.durationMs} ms on the copy)`
          : entry.message,
    });
  }

  if (lockMs >= options.longLockMs) {
    const longest = statements
      .filter((statement) => takesLocks(statement.sql))
      .reduce<TimedStatement | null>((top, statement) => ((statement.durationMs ?? 0) > (top?.durationMs ?? -1) ? statement : top), null);
    add({
      rule: 'long-lock',
      durationMs: lockMs,
      statement: longest?.sql ?? null,
      message: `held locks the application waits on for ${lockMs} ms on the copy (threshold ${options.longLockMs} ms)${
        longest?.durationMs != null ? `; the longest statement took ${longest.durationMs} ms: ${oneLine(longest.sql)}` : ''
      }`,
    });
  }
  return found;
}

function typeChanged(before: ColumnShape, after: ColumnShape): boolean {
  if (before.type === undefined || after.type === undefined) return false;
  return before.type.replace(/\s+/g, ' ').trim().toLowerCase() !== after.type.replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The statement that dropped `table`, for the report (null when it went another way). */
function dropStatement(statements: readonly TimedStatement[], table: string): string | null {
  return (
    statements.find(({ sql }) => {
      const drop = /^\s*drop\s+table\s+(?:if\s+exists\s+)?(\S+)/i.exec(withoutLeadingComments(sql));
      return drop !== null && bareName(drop[1]!.replace(/;$/, '')) === table;
    })?.sql ?? null
  );
}

/** A knex rebuild's time: from the statement that first names its temporary table to the rename back. */
function rebuildMs(statements: readonly TimedStatement[], temp: string, renameIndex: number): number {
  const first = statements.findIndex(({ sql }) => sql.includes(temp));
  const span = statements.slice(first < 0 ? renameIndex : first, renameIndex + 1);
  return Math.round(span.reduce((sum, statement) => sum + (statement.durationMs ?? 0), 0));
}

/** A .sql file's statement keeps the comments above it: its verb comes after them. */
export function withoutLeadingComments(sql: string): string {
  return sql.replace(/^(?:\s*(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/))+/, '');
}

export function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
