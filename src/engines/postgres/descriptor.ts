import { GuardError } from '../../errors.ts';
import { redact } from '../../redact.ts';
import { takesBy, type EngineDescriptor } from '../descriptor.ts';
import { configurePgRoles } from './roles.ts';

const SCHEMES = ['postgres', 'postgresql'] as const;
const takes = takesBy(SCHEMES, false);

/** The URL as given, once it parses as one. */
function locate(location: string): string {
  const url = location.trim();
  if (!URL.canParse(url))
    throw new GuardError('USAGE', `"${redact(url)}" is not a valid PostgreSQL URL (postgres://user:password@host:5432/database)`);
  return url;
}

/** PostgreSQL: a `postgres://` URL, or a knexfile's `{ connectionString }` / `{ host, port, user, password, database }`. */
export const postgresDescriptor: EngineDescriptor = {
  kind: 'postgres',
  label: 'PostgreSQL',
  schemes: SCHEMES,
  takesPaths: false,
  knexClients: ['pg', 'postgres', 'postgresql'],
  capabilities: { transactionalDdl: true, pointInTime: false, server: true },
  labels: {
    integrity: 'a scratch pg_restore',
    snapshot: 'PostgreSQL dump (pg_dump --format=custom)',
    fullCheck: 'the index and constraint check (amcheck where installed)',
    quickCheck: 'the invalid index and constraint check',
    copyProof: 'pg_restore of the copy into a scratch database',
    copyCheck: 'a scratch pg_restore of the copy',
    proof: 'the scratch pg_restore',
  },
  load: async () => (await import('./engine.ts')).postgresModule,
  findings: ['table-rewrite', 'index-not-concurrent', 'foreign-key-not-valid'],
  configure: ({ config, warn }) => configurePgRoles({ proofRole: config.postgres.proofRole, warn }),
  // SQLSTATE 53100 disk_full ("could not extend file …: No space left on device" is also caught by its message).
  diskFull: ({ code }) => code === '53100',
  takes,
  locate,
  fromKnexConnection(connection: Readonly<Record<string, unknown>>): string | null {
    if (typeof connection.connectionString === 'string' && connection.connectionString.trim() !== '') {
      return takes(connection.connectionString) ? locate(connection.connectionString) : null;
    }
    if (typeof connection.database !== 'string' || connection.database === '') return null;
    return urlOf(connection);
  },
  knexConnectionHint: "a postgres:// URL, { connectionString: 'postgres://…' } or { host, port, user, password, database }",
};

/** The URL pg would connect to for knex's `{ host, port, user, password, database }` (pg's defaults for what is missing). */
function urlOf(fields: Readonly<Record<string, unknown>>): string {
  const url = new URL('postgres://localhost');
  const host = fields.host === undefined ? 'localhost' : String(fields.host);
  // A Unix socket folder cannot be a URL's host; libpq and pg both read it from `?host=`.
  if (host.startsWith('/')) url.searchParams.set('host', host);
  else url.hostname = host;
  if (fields.port !== undefined) url.port = String(fields.port);
  if (fields.user !== undefined) url.username = encodeURIComponent(String(fields.user));
  if (fields.password !== undefined) url.password = encodeURIComponent(String(fields.password));
  url.pathname = `/${encodeURIComponent(String(fields.database))}`;
  return url.toString();
}
