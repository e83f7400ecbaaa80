import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Engine, SqlStatement, StatementFailure } from '../engines/contract.ts';

/** What running a `.sql` file needs from the engine: its grammar, its way to send a statement, its errors. */
export type SqlEngine = Pick<Engine, 'splitSql' | 'runSqlStatement' | 'statementFailure'>;

/** How much of a failed statement a report quotes: enough to recognise it, not a whole function body. */
const STATEMENT_EXCERPT = 200;

/**
 * A statement of a `.sql` migration that the database refused: the database's own message and
 * code, where it points in the file (the statement's start when the database gave no position),
 * and the statement. `message` says all of it, for anyone who prints only that.
 */
export class SqlStatementError extends Error {
  override readonly name = 'SqlStatementError';
  /** The file as given to the run (absolute, or as the migrations folder was named). */
  readonly file: string;
  /** 1-based, in the file. */
  readonly line: number;
  readonly column: number;
  /** PostgreSQL's SQLSTATE, SQLite's result code; null when the database gave none. */
  readonly code: string | null;
  /** The database's message as it gave it, every line. */
  readonly databaseMessage: string;
  /** The statement, whitespace folded, cut to a readable length. */
  readonly statement: string;

  constructor(
    file: string,
    location: { readonly line: number; readonly column: number },
    failure: StatementFailure,
    statement: string,
    cause: unknown,
  ) {
    const excerpt = excerptOf(statement);
    // The code beside the place, before the message: a message may itself run over lines.
    const where = `${displayPath(file)} line ${location.line}, column ${location.column}${failure.codeLabel ? `, ${failure.codeLabel}` : ''}`;
    super(`${where}: ${failure.message}\nstatement: ${excerpt}`, { cause });
    this.file = file;
    this.line = location.line;
    this.column = location.column;
    this.code = failure.code;
    this.databaseMessage = failure.message;
    this.statement = excerpt;
  }
}

/**
 * Runs a `.sql` migration statement by statement, split by the engine's grammar: the list a dry
 * run shows is exactly what runs. A statement the database refuses becomes a SqlStatementError.
 */
export async function runSqlFile(db: Knex, engine: SqlEngine, file: string): Promise<void> {
  const sql = await readFile(file, 'utf8');
  for (const statement of engine.splitSql(sql)) {
    try {
      await engine.runSqlStatement(db, statement.text);
    } catch (error) {
      const failure = engine.statementFailure(error, statement.text);
      if (failure === null) throw error;
      throw new SqlStatementError(file, locate(sql, statement, failure.position), failure, statement.text, error);
    }
  }
}

/**
 * Line and column in the file of `position` (1-based, in characters, as PostgreSQL counts them)
 * within `statement`; the statement's own start without one.
 */
export function locate(sql: string, statement: SqlStatement, position: number | null): { line: number; column: number } {
  let index = statement.offset;
  if (position !== null) {
    // Characters, not UTF-16 units: a character outside the BMP is one to the database, two here.
    const characters = Array.from(statement.text);
    index += characters.slice(0, Math.min(position - 1, characters.length)).join('').length;
  }
  const before = sql.slice(0, index);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: Array.from(before.slice(lineStart)).length + 1 };
}

function excerptOf(statement: string): string {
  const folded = statement.replace(/\s+/g, ' ').trim();
  return folded.length <= STATEMENT_EXCERPT ? folded : `${folded.slice(0, STATEMENT_EXCERPT - 1)}…`;
}

/** Relative to the working directory when the file is under it: `migrations/001_init.sql`. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
