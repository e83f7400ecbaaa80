/**
 * The driver's own message of an error knex threw for `statement`: knex prefixes it with the
 * statement and ` - ` (the statement that failed is reported beside it, not inside it).
 */
export function driverMessage(error: unknown, statement: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const prefix = `${statement} - `;
  return statement !== '' && message.startsWith(prefix) ? message.slice(prefix.length) : message;
}
