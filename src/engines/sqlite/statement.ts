import type { Knex } from 'knex';
import type { StatementFailure } from '../contract.ts';
import { driverMessage } from '../knex-error.ts';

/** knex passes a statement to SQLite as it is (its SQLite client has no `?` rewriting to undo). */
export async function runSqliteStatement(db: Knex, statement: string): Promise<void> {
  await db.raw(statement);
}

/**
 * node-sqlite3's error as SQLite said it: `SQLITE_ERROR: near "CREAT": syntax error` is SQLite's
 * result code and its message. SQLite reports no position through node-sqlite3.
 */
export function sqliteStatementFailure(error: unknown, statement: string): StatementFailure | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  const message = driverMessage(error, statement);
  return { message: message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message, code, codeLabel: code, position: null };
}
