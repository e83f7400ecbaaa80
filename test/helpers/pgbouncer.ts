import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { withPg } from '../../src/engines/postgres/connection.ts';
import { PG_SERVER } from './databases.ts';

/** Debian's PgBouncer (`apt-get install pgbouncer`, which .ci/run does when it is missing). */
export const PGBOUNCER_BINARY =
  [
    ...(process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((folder) => path.join(folder, 'pgbouncer')),
    '/usr/sbin/pgbouncer',
    '/usr/bin/pgbouncer',
  ].find((candidate) => existsSync(candidate)) ?? null;

export type PoolMode = 'session' | 'transaction' | 'statement';

/** A PgBouncer of the test's own in front of the test server: its URL for a database, and how to stop it. */
export interface PgBouncer {
  readonly port: number;
  readonly mode: PoolMode;
  /** `url` (a database on the test server) as reached through this PgBouncer. */
  through(url: string): string;
  /** Transactions PgBouncer passed on to `database` so far (its admin console's SHOW STATS). */
  transactions(database: string): Promise<number>;
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Starts PgBouncer on a free port, in `mode`, with its ini and userlist in a temp folder
 * (auth_type trust: the test server trusts 127.0.0.1), every database forwarded to the test
 * server. PgBouncer refuses to run as root: as root it is started with `-u postgres`, and its
 * files are made readable by that user.
 */
export async function startPgBouncer(mode: PoolMode): Promise<PgBouncer> {
  if (PGBOUNCER_BINARY === null) throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer)');
  const server = new URL(PG_SERVER);
  const dir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-pgbouncer-'));
  await chmod(dir, 0o755);
  const asRoot = userInfo().uid === 0;
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const ini = path.join(dir, 'pgbouncer.ini');
    const users = path.join(dir, 'userlist.txt');
    await writeFile(users, `"${decodeURIComponent(server.username) || 'postgres'}" ""\n`);
    await writeFile(
      ini,
      [
        '[databases]',
        `* = host=${server.hostname} port=${server.port || '5432'}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${users}`,
        `pool_mode = ${mode}`,
        `admin_users = ${decodeURIComponent(server.username) || 'postgres'}`,
        'max_client_conn = 200',
        'default_pool_size = 20',
        // pg_dump and psql send it at startup; PgBouncer refuses startup parameters it does not know.
        'ignore_startup_parameters = extra_float_digits,options',
        '',
      ].join('\n'),
    );
    await chmod(ini, 0o644);
    await chmod(users, 0o644);
    const child: ResultPromise = execa(PGBOUNCER_BINARY, [...(asRoot ? ['-u', 'postgres'] : []), ini], {
      reject: false,
      all: true,
      stdin: 'ignore',
    });
    let exited = false;
    void child.then(() => (exited = true));
    // Listening, or gone (its port taken meanwhile, a bad ini): at most 30 s either way.
    for (let waited = 0; !exited && waited < 300 && !(await accepts(port)); waited += 1)
      await new Promise((resolve) => setTimeout(resolve, 100));
    if (!exited && (await accepts(port))) {
      return {
        port,
        mode,
        through(url) {
          const parsed = new URL(url);
          parsed.hostname = '127.0.0.1';
          parsed.port = String(port);
          return parsed.toString();
        },
        async transactions(database) {
          const admin = new URL(PG_SERVER);
          admin.hostname = '127.0.0.1';
          admin.port = String(port);
          admin.pathname = '/pgbouncer';
          // The admin console speaks only the simple query protocol: no parameters.
          const rows = await withPg(admin.toString(), (connection) =>
            connection.all<{ database: string; total_xact_count: string }>('SHOW STATS'),
          );
          return Number(rows.find((row) => row.database === database)?.total_xact_count ?? 0);
        },
        async stop() {
          child.kill('SIGTERM');
          await child;
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    const result = await child;
    if (attempt >= 3) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start: ${result.all}`);
    }
  }
}
