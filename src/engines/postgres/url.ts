import { GuardError } from '../../errors.ts';
import { redact } from '../../redact.ts';

/** `postgres://` and `postgresql://` URLs, as DATABASE_URL and knexfiles give them. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location.trim());
}

/** The database a URL names (the path's first segment). */
export function databaseOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (name === '') throw new Error(`${redact(url)} names no database`);
  return name;
}

/** The same server and credentials, another database (a scratch one, or `postgres` for CREATE DATABASE). */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/**
 * The URL every connection uses when `direct` (DIRECT_URL, `--direct-url`, `directUrl`) reaches the
 * server that `url` (DATABASE_URL, the knexfile) reaches through a pooler: Prisma's `directUrl`
 * convention. It must name the same database, or none (then `url`'s): the database is found by
 * `url`, and a second URL naming another one would be a guess.
 */
export function directConnection(url: string, direct: string): string {
  const trimmed = direct.trim();
  if (!isPostgresUrl(trimmed)) {
    throw new GuardError(
      'USAGE',
      `DIRECT_URL ${redact(trimmed)} is not a postgres:// URL; give the URL that reaches the PostgreSQL server without the pooler`,
    );
  }
  const database = databaseOf(url);
  const named = decodeURIComponent(new URL(trimmed).pathname.replace(/^\//, ''));
  if (named === '') return withDatabase(trimmed, database);
  if (named !== database) {
    throw new GuardError(
      'USAGE',
      `DIRECT_URL ${redact(trimmed)} names database ${named}, DATABASE_URL ${redact(url)} names ${database}: they must name the same database; fix one of them`,
    );
  }
  return trimmed;
}
