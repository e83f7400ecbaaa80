import type { Knex } from 'knex';
import type { StatementFailure } from '../contract.ts';
import { driverMessage } from '../knex-error.ts';

/**
 * knex's raw without bindings passes the text to mysql2 untouched, and mysql2 replaces no `?`
 * when it is given no values: a `.sql` file's `'what?'` reaches the server as written.
 */
export async function runMyStatement(db: Knex, statement: string): Promise<void> {
  await db.raw(statement);
}

interface MyErrorFields {
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly sqlState?: unknown;
  readonly sqlMessage?: unknown;
}

/**
 * mysql2's error as the server said it: its message, the error name and number (`ER_PARSE_ERROR`,
 * 1064) and SQLSTATE. The server locates a syntax error by quoting the text from there (`near
 * 'CREAT TABLE x' at line 1`): found in the statement, that is the position.
 */
export function myStatementFailure(error: unknown, statement: string): StatementFailure | null {
  if (error === null || typeof error !== 'object') return null;
  const fields = error as MyErrorFields;
  if (typeof fields.errno !== 'number' || typeof fields.sqlState !== 'string' || typeof fields.code !== 'string') return null;
  const message = typeof fields.sqlMessage === 'string' ? fields.sqlMessage : driverMessage(error, statement);
  const near = /near '([\s\S]*)' at line \d+$/.exec(message)?.[1];
  const at = near !== undefined && near !== '' && statement !== '' ? statement.indexOf(near) : -1;
  return {
    message,
    code: fields.code,
    codeLabel: `${fields.code} (${fields.errno}, SQLSTATE ${fields.sqlState})`,
    position: at >= 0 ? at + 1 : null,
  };
}
