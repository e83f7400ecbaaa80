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
