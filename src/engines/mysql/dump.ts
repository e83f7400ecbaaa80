import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { hashingTap, READ_CHUNK } from '../../fs/hash.ts';
import { startTool } from './tools.ts';
import type { MyServer } from './url.ts';

/**
 * `mariadb-dump` (or `mysqldump`) of one database: one `START TRANSACTION WITH CONSISTENT
 * SNAPSHOT` for every table (`--single-transaction`: InnoDB rows as of one moment, no table
 * locked), routines, triggers and events, binary columns as hex (the file stays text whatever
 * they hold), without CREATE DATABASE / USE (it loads into any database: the scratch one of the
 * proof, the incoming one of a restore) and without the dump date (the same database dumps to
 * the same bytes).
 */
export const DUMP_ARGS = [
  '--single-transaction',
  '--quick',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--skip-dump-date',
  '--no-tablespaces',
  '--default-character-set=utf8mb4',
] as const;

/** What a complete dump ends with: a dump cut short (a killed tool, a truncated copy) lacks it. */
export const DUMP_TRAILER = '-- Dump completed';

export type ToolResult = { readonly ok: boolean; readonly detail: string };

/**
 * Dumps `database` on `server` to `target` (mode 0600) and, when `loadInto` is given, loads the
 * same bytes into that (scratch) database as they are written: the proof starts with the dump,
 * not after it. `dumped` gives the bytes' sha256; `loaded` the load's outcome.
 */
export async function dumpDatabase(
  server: MyServer,
  target: string,
  loadInto: MyServer | null,
  signal?: AbortSignal,
): Promise<{ readonly dumped: Promise<{ readonly sha256: string }>; readonly loaded: Promise<ToolResult> | null }> {
  // The loader is started first and piped before the dump's first byte flows: it must see them all.
  const load = loadInto === null ? null : await startTool('client', loadInto, loadArgs(loadInto), signal);
  const dump = await startTool('dump', server, [...DUMP_ARGS, '--', server.database], signal);
  const tap = hashingTap();
  const file = createWriteStream(target, { mode: PRIVATE_FILE_MODE, flags: 'w' });
  let fed = 0;
  let loaded: Promise<ToolResult> | null = null;
  if (load !== null) {
    const stdin = load.child.stdin!;
    // A load that stops early (a failed statement) closes its stdin: the dump goes on to the file.
    stdin.on('error', () => tap.unpipe(stdin));
    tap.on('data', (chunk: Buffer) => {
      if (stdin.writable) fed += chunk.length;
    });
    tap.pipe(stdin);
    // Loaded means: every byte of the dump went into the load, and the load succeeded.
    loaded = Promise.all([load.done, finished(file).catch(() => undefined)]).then(([result]) =>
      result.ok && fed !== tap.bytes() ? { ok: false, detail: `the load received ${fed} of the dump's ${tap.bytes()} bytes` } : result,
    );
  }
  tap.pipe(file);
  dump.child.stdout!.pipe(tap);
  const dumped = (async () => {
    const [result] = await Promise.all([dump.done, finished(file)]);
    if (!result.ok) throw new Error(result.detail);
    return { sha256: tap.hash.digest('hex') };
  })();
  dumped.catch(() => undefined);
  return { dumped, loaded };
}

/** The client tool's options for loading a dump: stop at the first error, binary-safe. */
function loadArgs(into: MyServer): string[] {
  return ['--binary-mode', '--batch', '--default-character-set=utf8mb4', `--database=${into.database}`];
}

/** Loads the dump `file` into `into` (an empty scratch database); fails on the first error, or when the dump is not complete. */
export async function loadDump(into: MyServer, file: string, signal?: AbortSignal): Promise<ToolResult> {
  if (!(await isCompleteDump(file))) return { ok: false, detail: `${file} does not end with "${DUMP_TRAILER}": the dump is cut short` };
  const load = await startTool('client', into, loadArgs(into), signal);
  const read = createReadStream(file, { highWaterMark: READ_CHUNK });
  load.child.stdin!.on('error', () => read.destroy());
  read.pipe(load.child.stdin!);
  return load.done;
}

/** Whether the dump ends with the trailer mariadb-dump writes last. */
export async function isCompleteDump(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 256);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    return tail.toString('utf8').includes(DUMP_TRAILER);
  } finally {
    await handle.close();
  }
}

/**
 * A dump starts with the tool's own header line: first, or (MariaDB since 10.5.25, 10.11.8…)
 * after the `/*M!999999\\- enable the sandbox mode *\/` line, which a MariaDB client reads as
 * "run no shell command from here on".
 */
export async function isDump(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch(() => null);
  if (handle === null) return false;
  try {
    const head = Buffer.alloc(256);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const lines = head.subarray(0, bytesRead).toString('utf8').split('\n').slice(0, 2);
    return lines.some((line) => /^-- (MariaDB|MySQL) dump /.test(line));
  } finally {
    await handle.close();
  }
}
