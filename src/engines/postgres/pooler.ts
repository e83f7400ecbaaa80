import { randomBytes } from 'node:crypto';
import { GuardError } from '../../errors.ts';
import { redact } from '../../redact.ts';
import { PgConnection } from './connection.ts';

/** Which setting a connection URL came from: named in the refusal, so the operator knows what to change. */
export type UrlSource = 'DATABASE_URL' | 'DIRECT_URL';

/** A session-level setting only this run's probe writes: whoever else sees it shares our server session. */
const PROBE_SETTING = 'migrate_guard.session_probe';

/** What showed that connections do not get a server session of their own, and the pool mode that explains it. */
export interface PoolingEvidence {
  readonly mode: 'transaction' | 'statement';
  readonly detail: string;
}

interface Seen {
  readonly pid: number;
  readonly token: string | null;
}

/**
 * Whether `url` gives each client connection a server session of its own, as a migration run
 * needs (its advisory lock, the snapshot pg_dump imports, psql's one-transaction restore). A
 * pooler in transaction mode (PgBouncer's `pool_mode = transaction`, Supabase's port 6543,
 * Neon's `-pooler` host) hands a client's next transaction to whichever server session is free,
 * so session state goes with the server session, not with the client. That is what is tested,
 * with two client connections A and B, rather than guessed from ports or host names:
 *
 * 1. A writes a session-level setting, then reads it back: a pooler may already move A here.
 * 2. B opens a transaction (holding one server session) and reads the setting and its pid: seeing
 *    A's value, or A's pid, means B got the server session A just left (PgBouncer's default
 *    `server_round_robin = 0` hands back the most recently used one).
 * 3. While B's transaction holds that server session, A reads its setting again: a pooler must
 *    serve A elsewhere, where the setting is not (or, with `server_reset_query_always`, is reset).
 *
 * On PostgreSQL itself and through a session-mode pool every read gives A's own value and pid,
 * and B never sees them. Statement mode refuses B's BEGIN. Returns null when every connection
 * had a session of its own, else what showed otherwise.
 */
export async function transactionPoolingEvidence(url: string): Promise<PoolingEvidence | null> {
  const detail = await sessionMismatch(url);
  if (detail === null) return null;
  return { mode: detail === STATEMENT_MODE ? 'statement' : 'transaction', detail };
}

const STATEMENT_MODE = 'it refuses transaction blocks (statement mode)';

async function sessionMismatch(url: string): Promise<string | null> {
  const token = randomBytes(8).toString('hex');
  // A pooler may end a connection it refuses (statement mode): an 'error' event with no listener would end the process.
  const open = async () => {
    const connection = await PgConnection.open(url);
    connection.client.on('error', () => undefined);
    return connection;
  };
  const a = await open();
  let b: PgConnection | null = null;
  try {
    const read = async (connection: PgConnection): Promise<Seen> => {
      const [row] = await connection.all<Seen>(`SELECT pg_backend_pid() AS pid, current_setting('${PROBE_SETTING}', true) AS token`);
      return row!;
    };
    const [first] = await a.all<Seen>(`SELECT pg_backend_pid() AS pid, set_config('${PROBE_SETTING}', ?, false) AS token`, [token]);
    const moved = (seen: Seen, when: string) =>
      seen.pid !== first!.pid
        ? `one client connection was served by two server sessions (pid ${first!.pid}, then ${seen.pid} ${when})`
        : seen.token !== token
          ? `a client connection lost its session setting ${when}`
          : null;
    const again = moved(await read(a), 'at its next statement');
    if (again) return again;

    b = await open();
    try {
      await b.exec('BEGIN');
    } catch (error) {
      // PgBouncer in statement mode: "transaction blocks not allowed in statement pooling mode".
      if (/statement (pooling )?mode/i.test((error as Error).message)) return STATEMENT_MODE;
      throw error;
    }
    try {
      const other = await read(b);
      if (other.token === token) return "a second client connection saw the first one's session setting";
      if (other.pid === first!.pid) return `two client connections were served by the same server session (pid ${first!.pid})`;
      return moved(await read(a), 'while another client held a transaction');
    } finally {
      await b.exec('ROLLBACK').catch(() => undefined);
    }
  } finally {
    await a.close().catch(() => undefined);
    await b?.close().catch(() => undefined);
  }
}

/** What a pooler's host name or port says it is, for the message: a hint, never the verdict. */
export function poolerHint(url: string): string {
  const parsed = new URL(url);
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port || '5432';
  if (host.endsWith('.pooler.supabase.com')) return `Supabase's pooler (Supavisor) at ${host}:${port}`;
  if (/-pooler\./.test(host) && host.endsWith('.neon.tech')) return `Neon's pooler at ${host}`;
  if (/\.proxy-[^.]+\.[^.]+\.rds\.amazonaws\.com$/.test(host)) return `RDS Proxy at ${host}`;
  if (port === '6432') return `PgBouncer by its port, ${host}:${port}`;
  if (port === '6543') return `Supabase's transaction pooler by its port, ${host}:${port}`;
  return `a pooler such as PgBouncer at ${host}:${port}`;
}

/** The server's own port, when it differs from the URL's: said in the message (a pooler listens elsewhere). */
async function serverPort(url: string): Promise<string | null> {
  try {
    const connection = await PgConnection.open(url);
    try {
      const [row] = await connection.all<{ port: number | null }>('SELECT inet_server_port() AS port');
      const listens = row?.port === null || row?.port === undefined ? null : String(row.port);
      return listens !== null && listens !== (new URL(url).port || '5432') ? listens : null;
    } finally {
      await connection.close().catch(() => undefined);
    }
  } catch {
    return null;
  }
}

/**
 * The refusal: which URL, which pooler, what showed it, and the two ways out. `before` says it
 * comes before anything was done (the check ahead of a step); a step that failed says no such thing.
 */
export async function transactionPoolerError(
  url: string,
  source: UrlSource,
  evidence: string,
  mode: PoolingEvidence['mode'] = 'transaction',
  before = true,
): Promise<GuardError> {
  const port = await serverPort(url);
  const behind = port === null ? '' : `; the server behind it listens on port ${port}`;
  const fix =
    source === 'DIRECT_URL'
      ? 'point DIRECT_URL (--direct-url, directUrl) at the server itself or at a session-mode pool'
      : "set DIRECT_URL (or --direct-url, or directUrl in the config) to the server's own URL, the pooler bypassed, or point DATABASE_URL at a session-mode pool";
  return new GuardError(
    'TRANSACTION_POOLER',
    `${source} ${redact(url)} goes through a connection pooler in ${mode} mode (${poolerHint(url)}${behind}): ${evidence}. A migration run needs one server session for its lock, its dump and its restore: ${fix}${before ? '; nothing was changed' : ''}`,
  );
}

/** Refuses, with the fix, a URL that does not give each connection a server session of its own. */
export async function requireServerSession(url: string, source: UrlSource): Promise<void> {
  const evidence = await transactionPoolingEvidence(url);
  if (evidence !== null) throw await transactionPoolerError(url, source, evidence.detail, evidence.mode);
}
