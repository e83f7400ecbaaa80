import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { GuardError } from '../../errors.ts';
import { pathExists } from '../../fs/paths.ts';
import type { MyServer } from './url.ts';

export type MyTool = 'dump' | 'client';

/** MariaDB names its tools `mariadb-dump` and `mariadb`; MySQL (and older MariaDB) `mysqldump` and `mysql`. */
const NAMES: Readonly<Record<MyTool, readonly string[]>> = {
  dump: ['mariadb-dump', 'mysqldump'],
  client: ['mariadb', 'mysql'],
};

const found = new Map<MyTool, Promise<string>>();

/** The first of the tool's names on PATH (or in /usr/bin), once per process. */
export function findMyTool(tool: MyTool): Promise<string> {
  let pending = found.get(tool);
  if (!pending) {
    pending = locate(tool);
    found.set(tool, pending);
    pending.catch(() => found.delete(tool));
  }
  return pending;
}

async function locate(tool: MyTool): Promise<string> {
  const folders = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const name of NAMES[tool]) {
    for (const folder of folders) {
      const file = path.join(folder, name);
      if (await pathExists(file)) return file;
    }
  }
  throw new GuardError(
    'TOOL_MISSING',
    `${NAMES[tool].join(' or ')} is not installed; the MySQL/MariaDB backup needs it: install the client tools (Debian: apt-get install mariadb-client)`,
  );
}

/** How the tools reach the server; the password goes through MYSQL_PWD, never argv (ps shows argv). */
export function connectionArgs(server: MyServer): { readonly args: string[]; readonly env: NodeJS.ProcessEnv } {
  const args =
    server.socket === null
      ? [`--host=${server.host}`, `--port=${server.port}`, '--protocol=TCP']
      : [`--socket=${server.socket}`, '--protocol=SOCKET'];
  args.push(`--user=${server.user}`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (server.password === null) delete env.MYSQL_PWD;
  else env.MYSQL_PWD = server.password;
  return { args, env };
}

/** A tool started with the server's connection in front of `args`; stderr collected for the message. */
export async function startTool(
  tool: MyTool,
  server: MyServer,
  args: readonly string[],
  signal?: AbortSignal,
): Promise<{ readonly child: ChildProcess; readonly done: Promise<{ ok: boolean; detail: string }> }> {
  const file = await findMyTool(tool);
  const connection = connectionArgs(server);
  // Options files first (--no-defaults must lead): a ~/.my.cnf never redirects the tool elsewhere.
  const child = spawn(file, ['--no-defaults', ...connection.args, ...args], {
    env: connection.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(signal ? { signal } : {}),
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 8000) stderr += chunk;
  });
  const done = new Promise<{ ok: boolean; detail: string }>((resolve) => {
    child.on('error', (error) => resolve({ ok: false, detail: `${path.basename(file)}: ${error.message}` }));
    child.on('close', (code, killed) =>
      resolve({
        ok: code === 0,
        detail:
          code === 0
            ? 'ok'
            : `${path.basename(file)} exited with ${code ?? killed}: ${stderr.trim().split('\n').slice(-3).join(' / ') || 'no message'}`,
      }),
    );
  });
  return { child, done };
}
