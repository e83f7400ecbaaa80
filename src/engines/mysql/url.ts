import { GuardError } from '../../errors.ts';
import { redact } from '../../redact.ts';

/** What mysql2 and the client tools (mariadb-dump, mariadb) need to reach one database. */
export interface MyServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Never on a command line: the tools get it through MYSQL_PWD, mysql2 in its options. */
  readonly password: string | null;
  /** A Unix socket, when the URL names one (`?socket=/run/mysqld/mysqld.sock`). */
  readonly socket: string | null;
  readonly database: string;
}

/** `mysql://` and `mariadb://` URLs: `mysql://user:password@host:3306/database`. */
export function parseMyUrl(url: string): MyServer {
  if (!URL.canParse(url.trim()))
    throw new GuardError('USAGE', `"${redact(url)}" is not a valid MySQL/MariaDB URL (mysql://user:password@host:3306/database)`);
  const parsed = new URL(url.trim());
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/'))
    throw new GuardError('USAGE', `${redact(url)} names no database: write mysql://user:password@host:3306/database`);
  return {
    host: parsed.hostname === '' ? 'localhost' : parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? 3306 : Number(parsed.port),
    user: parsed.username === '' ? 'root' : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? null : decodeURIComponent(parsed.password),
    socket: parsed.searchParams.get('socket'),
    database,
  };
}

/** The same server and credentials, another database (a scratch one). */
export function withMyDatabase(url: string, database: string): string {
  const parsed = new URL(url.trim());
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** The URL of knex's `{ host, port, user, password, database }` (mysql2's defaults for what is missing). */
export function myUrlOf(fields: Readonly<Record<string, unknown>>): string {
  const url = new URL('mysql://localhost');
  url.hostname = fields.host === undefined ? 'localhost' : String(fields.host);
  if (fields.port !== undefined) url.port = String(fields.port);
  if (fields.user !== undefined) url.username = encodeURIComponent(String(fields.user));
  if (fields.password !== undefined && fields.password !== '') url.password = encodeURIComponent(String(fields.password));
  if (typeof fields.socketPath === 'string') url.searchParams.set('socket', fields.socketPath);
  url.pathname = `/${encodeURIComponent(String(fields.database))}`;
  return url.toString();
}
