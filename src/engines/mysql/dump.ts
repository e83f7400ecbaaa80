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
  const dump = await startTool('dump', server, [...DUMP_ARGS, '--', server.database], signal);
  const tap = hashingTap();
  const file = createWriteStream(target, { mode: PRIVATE_FILE_MODE, flags: 'w' });
  dump.child.stdout!.pipe(tap).pipe(file);
  let loaded: Promise<ToolResult> | null = null;
  if (loadInto !== null) {
    const load = await startTool('client', loadInto, loadArgs(loadInto), signal);
    // A load that stops early (a failed statement) closes its stdin: the dump goes on to the file.
    load.child.stdin!.on('error', () => tap.unpipe(load.child.stdin!));
    tap.pipe(load.child.stdin!);
    loaded = load.done;
  }
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

/** A dump of ours starts with the tool's own header line. */
export const DUMP_HEADERS = ['-- MariaDB dump', '-- MySQL dump'] as const;
