import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { execa } from 'execa';
import { GuardError } from '../../errors.ts';
import { createEmptyFile, PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { withPg } from './connection.ts';
import { findPgTool } from './tools.ts';
import { redact } from '../../redact.ts';

/**
 * libpq's connection parameters that have an environment variable (libpq-envars), by the name a
 * URL's query string gives them.
 */
const PARAMETER_ENV: Readonly<Record<string, string>> = {
  password: 'PGPASSWORD',
  passfile: 'PGPASSFILE',
  service: 'PGSERVICE',
  options: 'PGOPTIONS',
  application_name: 'PGAPPNAME',
  sslmode: 'PGSSLMODE',
  requiressl: 'PGREQUIRESSL',
  sslcompression: 'PGSSLCOMPRESSION',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslrootcert: 'PGSSLROOTCERT',
  sslcrl: 'PGSSLCRL',
  sslcrldir: 'PGSSLCRLDIR',
  sslsni: 'PGSSLSNI',
  requirepeer: 'PGREQUIREPEER',
  ssl_min_protocol_version: 'PGSSLMINPROTOCOLVERSION',
  ssl_max_protocol_version: 'PGSSLMAXPROTOCOLVERSION',
  gssencmode: 'PGGSSENCMODE',
  krbsrvname: 'PGKRBSRVNAME',
  gsslib: 'PGGSSLIB',
  channel_binding: 'PGCHANNELBINDING',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  client_encoding: 'PGCLIENTENCODING',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  load_balance_hosts: 'PGLOADBALANCEHOSTS',
};

/**
 * The client tools run with the password in their environment (PGPASSWORD), never on their
 * command line, where any local account could read it from the process list: the URL's own
 * (`user:pass@`) or its `?password=`. Every query parameter libpq also takes from the
 * environment goes there too (a key's passphrase, a service file…), so the command line keeps only
 * host, port, user and database. A later `?password=` wins over `user:pass@`, as in libpq.
 */
export function connectionArgs(url: string): { readonly dbname: string; readonly env: Record<string, string> } {
  const parsed = new URL(url);
  const env: Record<string, string> = {};
  const password = decodeURIComponent(parsed.password);
  if (password) env.PGPASSWORD = password;
  parsed.password = '';
  for (const [name, value] of [...parsed.searchParams]) {
    const variable = PARAMETER_ENV[name];
    if (variable === undefined) continue;
    env[variable] = value;
    parsed.searchParams.delete(name);
  }
  return { dbname: parsed.toString(), env };
}

/** The server's major version: the client tools must be at least as new. */
export async function serverMajor(url: string): Promise<number> {
  return withPg(url, async (connection) => {
    const [row] = await connection.all<{ num: string }>("SELECT current_setting('server_version_num') AS num");
    return Math.floor(Number(row?.num ?? 0) / 10_000);
  });
}

/** Found once per process: the server's major version and the tool that matches it do not change. */
const found = new Map<string, Promise<string>>();

async function tool(name: 'pg_dump' | 'pg_restore' | 'psql', url: string): Promise<string> {
  const server = new URL(url);
  const key = `${name} ${server.hostname}:${server.port}`;
  let path = found.get(key);
  if (!path) {
    path = serverMajor(url).then((major) => findPgTool(name, major));
    found.set(key, path);
    // A refusal (no tool yet) is not remembered: the operator may install it and retry in-process.
    path.catch(() => found.delete(key));
  }
  return path;
}

/** The line that says what went wrong (psql's `ERROR:`, else the last one), for a one-line error. */
function lastLine(output: string | undefined): string {
  const lines = (output ?? '').trim().split('\n').filter(Boolean);
  return lines.find((line) => /\bERROR:/.test(line))?.replace(/^.*?ERROR:\s*/, '') ?? lines.at(-1) ?? 'no output';
}

/**
 * The custom format at zlib level 1: on a 1 GB database pg_dump's default level took 13.9 s of
 * CPU-bound compression for a 241 MB dump, level 1 6.5 s for 257 MB (+6%); the dump's proof is
 * the same either way. The time matters twice: it is the rollout's and it competes for the cores
 * with the proof's pg_restore running beside it.
 */
const DUMP_FORMAT = ['--format=custom', '--compress=1'];

/** `pg_dump --format=custom` of the whole database (or as of an exported snapshot) into `target`. */
export async function dumpDatabase(url: string, target: string, snapshot: string | null, signal?: AbortSignal): Promise<void> {
  const { dbname, env } = connectionArgs(url);
  // pg_dump would create the file with the umask's mode (0644, say) and fill it so: it gets an
  // empty private file instead, which it truncates and keeps the mode of.
  await createEmptyFile(target, PRIVATE_FILE_MODE);
  const args = [...DUMP_FORMAT, '--file', target, '--dbname', dbname, ...(snapshot ? ['--snapshot', snapshot] : [])];
  const result = await execa(await tool('pg_dump', url), args, {
    env,
    reject: false,
    all: true,
    stdin: 'ignore',
    ...(signal ? { cancelSignal: signal } : {}),
  });
  if (result.exitCode !== 0) throw new Error(`pg_dump of ${redact(url)} failed: ${lastLine(result.all)}`);
}

/**
 * `pg_restore --role`: it runs `SET ROLE` right after connecting, so the dump's objects are created
 * by, and its functions run as, that role rather than the URL's (see roles.ts).
 */
function roleArgs(role: string | null | undefined): string[] {
  return role ? [`--role=${role}`] : [];
}

/**
 * `pg_restore` of a whole dump into an empty database, stopping at the first error and in one
 * transaction: a dump that restores this way has every object and row it claims.
 */
export async function restoreIntoEmpty(
  url: string,
  dump: string,
  options: { readonly tables?: readonly string[]; readonly signal?: AbortSignal; readonly role?: string | null } = {},
): Promise<{ ok: boolean; detail: string }> {
  const { dbname, env } = connectionArgs(url);
  const tables = (options.tables ?? []).flatMap((table) => ['--table', table]);
  const args = [
    '--exit-on-error',
    '--single-transaction',
    '--no-owner',
    '--no-privileges',
    ...roleArgs(options.role),
    ...tables,
    '--dbname',
    dbname,
    dump,
  ];
  const result = await execa(await tool('pg_restore', url), args, {
    env,
    reject: false,
    all: true,
    stdin: 'ignore',
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  return result.exitCode === 0 ? { ok: true, detail: 'ok' } : { ok: false, detail: `pg_restore failed: ${lastLine(result.all)}` };
}

/**
 * A dump's SQL run by one psql session as one transaction: BEGIN; the tables in `lock` locked IN
 * EXCLUSIVE MODE (readers go on, writers wait; the LOCK waits for transactions writing them to
 * end); `whileLocked` (the in-place restore's pre-restore dump, in a session of its own: pg_dump's
 * ACCESS SHARE locks do not conflict, and no commit to those tables can come after it); `before`
 * (the drops of what the dump does not know, a DELETE, a session setting); the dump's SQL;
 * `after` (a check that raises); COMMIT. Without the lock a commit landing between the pre-restore
 * dump and the restore's DROP was in neither. All of it commits, or none: an error stops psql
 * (ON_ERROR_STOP), and a session that ends without our COMMIT is rolled back by the server, so the
 * COMMIT counts only once psql has printed the marker that follows it.
 */
export async function runDumpAsOneTransaction(
  url: string,
  dump: string,
  restoreArgs: readonly string[],
  steps: {
    readonly lock?: readonly string[];
    readonly before: readonly string[];
    readonly after?: readonly string[];
    readonly whileLocked?: () => Promise<void>;
  },
): Promise<{ ok: true; commit: TransactionAtCommit } | { ok: false; detail: string; rolledBack: boolean }> {
  const { dbname, env } = connectionArgs(url);
  const [pgRestore, psqlTool] = [await tool('pg_restore', url), await tool('psql', url)];
  const marker = `migrate-guard-${randomBytes(6).toString('hex')}`;
  const psql = execa(psqlTool, ['--quiet', '--no-psqlrc', '-v', 'ON_ERROR_STOP=1', '--dbname', dbname], {
    env,
    reject: false,
    stdin: 'pipe',
    all: true,
  });
  // Writes after psql stopped (an error) fail with EPIPE: its exit code and output say why.
  psql.stdin.on('error', () => undefined);
  // What psql printed last: the markers it echoes once the statements before them are done.
  let seen = '';
  psql.stdout.on('data', (chunk: Buffer) => {
    seen = (seen + chunk.toString()).slice(-4096);
  });
  const reached = (step: string) =>
    new Promise<boolean>((resolve) => {
      const line = `${marker}-${step}\n`;
      const check = () => {
        if (seen.includes(line)) resolve(true);
      };
      psql.stdout.on('data', check);
      void psql.then(() => resolve(seen.includes(line)));
      check();
    });
  // Before the COMMIT is written, psql's session ends without it: the server rolls the whole
  // transaction back, whatever it had done (`rolledBack`). Once written, nobody can tell here.
  const failed = async (fallback: string, rolledBack = true) => ({
    ok: false as const,
    detail: lastLine((await psql).all) || fallback,
    rolledBack,
  });

  const lock = steps.lock ?? [];
  const lockTables = lock.length > 0 ? `LOCK TABLE ${lock.join(', ')} IN EXCLUSIVE MODE;\n` : '';
  psql.stdin.write(`BEGIN;\n${lockTables}\\! echo ${marker}-locked\n`);
  if (!(await reached('locked'))) return failed('psql stopped before the tables were locked');
  try {
    await steps.whileLocked?.();
  } catch (error) {
    psql.stdin.end('ROLLBACK;\n');
    await psql;
    throw error;
  }
  psql.stdin.write(steps.before.map((statement) => `${statement};\n`).join(''));
  // The dump's SQL streams through (never held in memory); if psql stops, pg_restore must not
  // block on a pipe nobody reads.
  const restore = execa(pgRestore, [...restoreArgs, '--no-owner', '--no-privileges', '--file', '-', dump], {
    env,
    reject: false,
    stdin: 'ignore',
    stderr: 'pipe',
    buffer: { stdout: false },
  });
  restore.stdout.pipe(psql.stdin, { end: false });
  void psql.then(() => restore.kill());
  const restored = await restore;
  if (restored.exitCode !== 0) {
    psql.stdin.end('ROLLBACK;\n');
    await psql;
    return { ok: false as const, detail: `pg_restore failed: ${lastLine(String(restored.stderr ?? ''))}`, rolledBack: true };
  }
  const after = (steps.after ?? []).map((statement) => `${statement};\n`).join('');
  // Our transaction id and what was running as we commit: a later reader tells by them whether
  // anyone committed after us (see TransactionAtCommit).
  const xact = `SELECT pg_current_xact_id() AS mg_xid, pg_current_snapshot() AS mg_snapshot \\gset\n\\echo ${marker}-xact :mg_xid :mg_snapshot\n`;
  psql.stdin.end(`${after}${xact}COMMIT;\n\\! echo ${marker}-committed\n`);
  const committed = await reached('committed');
  const applied = await psql;
  if (!committed || applied.exitCode !== 0) return failed('psql stopped before COMMIT', false);
  const [, xid, running] = new RegExp(`${marker}-xact (\\d+) \\d+:\\d+:([\\d,]*)\\n`).exec(seen) ?? [];
  return { ok: true, commit: { xid: xid ?? null, running: running ? running.split(',') : [] } };
}

/**
 * A transaction as it committed: its id, and the ids of the transactions running at that moment
 * (`xid` null if psql did not print it). Every transaction that can commit after it is one of
 * those or has a larger id, which is how a reader tells the application's later commits apart.
 */
export interface TransactionAtCommit {
  readonly xid: string | null;
  readonly running: readonly string[];
}

/** The objects of the schema a dump holds, from its table of contents (`pg_restore --list`). */
export async function dumpObjects(url: string, dump: string): Promise<Set<string>> {
  const result = await execa(await tool('pg_restore', url), ['--list', dump], { reject: false, all: true, stdin: 'ignore' });
  if (result.exitCode !== 0) throw new GuardError('BACKUP_INVALID', `${dump} is not a readable PostgreSQL dump: ${lastLine(result.all)}`);
  const objects = new Set<string>();
  // `215; 1259 16390 TABLE public items postgres`
  for (const line of result.stdout.split('\n')) {
    const match = /^\d+;\s+\d+\s+\d+\s+(TABLE|VIEW|SEQUENCE|MATERIALIZED VIEW|TYPE)\s+(\S+)\s+(\S+)\s/.exec(line);
    if (match) objects.add(`${match[1]} ${match[3]}`);
  }
  return objects;
}

/**
 * `pg_dump --format=custom` of an exported snapshot into `target` and, from the same bytes as they
 * come, `pg_restore --single-transaction --exit-on-error` into the scratch database `proofUrl`: the
 * dump and its proof run side by side (two processes, two cores) instead of one after the other.
 * `dumped` settles when the file is whole and fsynced, with the sha256 of the bytes that went to
 * both; `restored` when the scratch restore ends.
 */
export async function dumpWhileRestoring(
  url: string,
  snapshot: string,
  target: string,
  proofUrl: string,
  signal?: AbortSignal,
  role: string | null = null,
): Promise<{ readonly dumped: Promise<{ sha256: string }>; readonly restored: Promise<{ ok: boolean; detail: string }> }> {
  const source = connectionArgs(url);
  const proof = connectionArgs(proofUrl);
  const [pgDump, pgRestore] = [await tool('pg_dump', url), await tool('pg_restore', url)];
  const cancel = signal ? { cancelSignal: signal } : {};
  // Created private, new and never through a link (see createEmptyFile): a dump holds every row.
  await createEmptyFile(target, PRIVATE_FILE_MODE);
  const dump = execa(pgDump, [...DUMP_FORMAT, '--snapshot', snapshot, '--dbname', source.dbname], {
    env: source.env,
    reject: false,
    stdin: 'ignore',
    stderr: 'pipe',
    buffer: { stdout: false },
    ...cancel,
  });
  const restore = execa(
    pgRestore,
    ['--exit-on-error', '--single-transaction', '--no-owner', '--no-privileges', ...roleArgs(role), '--dbname', proof.dbname],
    {
      env: proof.env,
      reject: false,
      all: true,
      ...cancel,
    },
  );
  const hash = createHash('sha256');
  const file = createWriteStream(target, { flags: 'r+' });
  dump.stdout!.on('data', (chunk: Buffer) => hash.update(chunk));
  dump.stdout!.pipe(file);
  dump.stdout!.pipe(restore.stdin!);
  // A restore that stops reading (it failed) must not stop the dump: its stdin errors are its own.
  restore.stdin!.on('error', () => undefined);
  const dumped = (async () => {
    const [result] = await Promise.all([dump, once(file, 'close')]);
    if (result.exitCode !== 0) throw new Error(`pg_dump of ${redact(url)} failed: ${lastLine(String(result.stderr ?? ''))}`);
    return { sha256: hash.digest('hex') };
  })();
  const restored = restore.then((result) =>
    result.exitCode === 0 ? { ok: true, detail: 'ok' } : { ok: false, detail: `pg_restore failed: ${lastLine(result.all)}` },
  );
  dumped.catch(() => undefined);
  return { dumped, restored };
}
