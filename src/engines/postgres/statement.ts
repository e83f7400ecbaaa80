import type { Knex } from 'knex';
import type { StatementFailure } from '../contract.ts';
import { driverMessage } from '../knex-error.ts';

/**
 * Marks a statement that knex must send as written: knex's PostgreSQL client rewrites every `?`
 * to `$1`, `$2`, … even with no bindings, which would change `'what?'` in a `.sql` file into
 * `'what$1'`. Our client (`openPgKnex`) strips the mark instead of rewriting; a comment, so a
 * knex that does not know it sends it harmlessly.
 */
export const VERBATIM_MARK = '/* migrate-guard: verbatim */';

export async function runPgStatement(db: Knex, statement: string): Promise<void> {
  await db.raw(`${VERBATIM_MARK}${statement}`);
}

interface PgErrorFields {
  readonly code?: unknown;
  readonly severity?: unknown;
  readonly position?: unknown;
  readonly detail?: unknown;
  readonly hint?: unknown;
  readonly where?: unknown;
  readonly internalQuery?: unknown;
}

/**
 * PostgreSQL's error as psql shows it: the message, then its DETAIL, HINT, QUERY (the statement
 * inside a function it was in) and CONTEXT lines; the SQLSTATE; and `position`, 1-based in
 * characters of the statement sent.
 */
export function pgStatementFailure(error: unknown, statement: string): StatementFailure | null {
  if (error === null || typeof error !== 'object') return null;
  const fields = error as PgErrorFields;
  if (typeof fields.code !== 'string' || !/^[0-9A-Z]{5}$/.test(fields.code) || typeof fields.severity !== 'string') return null;
  const lines = [driverMessage(error, statement)];
  const add = (label: string, value: unknown) => {
    if (typeof value === 'string' && value !== '') lines.push(`${label}: ${value}`);
  };
  add('DETAIL', fields.detail);
  add('HINT', fields.hint);
  add('QUERY', fields.internalQuery);
  add('CONTEXT', fields.where);
  const position = Number(fields.position);
  return {
    message: lines.join('\n'),
    code: fields.code,
    codeLabel: `SQLSTATE ${fields.code}`,
    position: Number.isInteger(position) && position > 0 ? position : null,
  };
}
