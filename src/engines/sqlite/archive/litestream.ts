import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuardError } from '../../../errors.ts';
import { writeFileAtomic } from '../../../fs/atomic.ts';
import { fileModeFrom, makePrivateDir } from '../../../fs/file-mode.ts';
import type { ArchiveRestore, ArchiveSettings } from '../../contract.ts';
import { litestreamReplica } from './replica.ts';

/**
 * Pinned: @flydotio/litestream-<platform>-<arch>@1.0.1 ship the Litestream v0.3.13 binary. The
 * project depends on the linux-x64 one (an optional dependency) directly: the wrapper package's
 * other platform packages are not all on the registry, which breaks `npm ci`.
 */
export const LITESTREAM_PACKAGE = `@flydotio/litestream-${process.platform}-${process.arch}@1.0.1`;

export type { ArchiveRestore, ArchiveSettings } from '../../contract.ts';

/** The Litestream binary for this platform, from the pinned npm package. */
export function litestreamBinary(): string {
  const platformPackage = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    return createRequire(import.meta.url).resolve(`${platformPackage}/litestream`);
  } catch (error) {
    throw new GuardError(
      'USAGE',
      `the Litestream binary for ${process.platform}-${process.arch} is missing: run npm install ${LITESTREAM_PACKAGE} (or install Litestream v0.3.13 and put it on PATH)`,
      { cause: error },
    );
  }
}

/**
 * The command line that runs `litestream replicate`. Litestream outlives a SIGKILLed parent (no
 * handler runs to stop it), and an orphan keeps replicating beside the next `archive`'s, two
 * writers on one replica. On Linux util-linux's `setpriv --pdeathsig TERM` asks the kernel to send
 * it SIGTERM (a clean stop) when its parent dies, whatever the death; setpriv then execs
 * Litestream, so the pid that stops it on Ctrl-C is Litestream's own.
 */
export function replicateCommand(binary: string, config: string): { readonly file: string; readonly args: readonly string[] } {
  const replicate = ['replicate', '-config', config];
  const setpriv =
    process.platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate)) : undefined;
  return setpriv ? { file: setpriv, args: ['--pdeathsig', 'TERM', binary, ...replicate] } : { file: binary, args: replicate };
}

export function defaultArchiveDir(backupDir: string): string {
  return path.join(backupDir, 'wal-archive');
}

export interface LitestreamSetup {
  /** The generated `litestream.yml`. */
  readonly config: string;
  /** What Litestream's environment must add: credentials taken out of the replica URL. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Writes the Litestream configuration for one database, derived from ours. Kept beside the
 * archive, so `litestream` can be run by hand with the same settings (and the same environment).
 * The file is 0600 and holds no secret: credentials in `archive.replica` go to Litestream's
 * environment (see replica.ts). The folders the archive lives in are made 0700 before Litestream
 * runs: the archive folder, a file replica's folder, and Litestream's own folder beside the
 * database (`.<db>-litestream`); Litestream keeps an existing folder as it is and gives the files
 * it writes in them the database's mode.
 */
export async function writeLitestreamConfig(database: string, backupDir: string, settings: ArchiveSettings): Promise<LitestreamSetup> {
  const archiveDir = defaultArchiveDir(backupDir);
  await makePrivateDir(archiveDir);
  const live = path.resolve(database);
  await makePrivateDir(path.join(path.dirname(live), `.${path.basename(live)}-litestream`));
  const replica = settings.replica ? litestreamReplica(settings.replica) : null;
  const replicaFolder = replica ? fileReplicaFolder(replica.url) : path.join(archiveDir, 'replica');
  if (replicaFolder !== null) await makePrivateDir(replicaFolder);
  const entry = replica
    ? [`      - url: ${JSON.stringify(replica.url)}`, ...replica.lines.map((line) => `        ${line}`)]
    : [`      - type: file`, `        path: ${JSON.stringify(replicaFolder)}`];
  const yaml = [
    '# Written by migrate-guard archive; regenerated on every start.',
    'dbs:',
    `  - path: ${JSON.stringify(live)}`,
    '    replicas:',
    ...entry,
    `        sync-interval: ${settings.syncInterval}`,
    '',
  ].join('\n');
  const file = path.join(archiveDir, 'litestream.yml');
  await writeFileAtomic(file, yaml);
  return { config: file, env: replica?.env ?? {} };
}

/** The folder of a `file://` replica URL, or null for a remote one. */
function fileReplicaFolder(url: string): string | null {
  if (!url.startsWith('file://')) return null;
  try {
    return fileURLToPath(url);
  } catch {
    return null;
  }
}

/** Whether an archive has been written for this backup folder (a generation exists). */
export async function hasArchive(backupDir: string, settings: ArchiveSettings): Promise<boolean> {
  if (settings.replica) return true;
  try {
    return (await readdir(path.join(defaultArchiveDir(backupDir), 'replica', 'generations'))).length > 0;
  } catch {
    return false;
  }
}

/**
 * The newest replicated WAL segment of a file replica (its time is the archive's recovery point),
 * or null when there is none. Remote replicas are not inspected.
 */
export async function newestArchivedSegment(backupDir: string): Promise<Date | null> {
  const root = path.join(defaultArchiveDir(backupDir), 'replica', 'generations');
  let newest: Date | null = null;
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const info = await stat(path.join(entry.parentPath, entry.name));
    if (newest === null || info.mtime > newest) newest = info.mtime;
  }
  return newest;
}

/**
 * The archive's recovery point and lag: how much newer the database's last write (the file or its
 * -wal) is than the last archived WAL segment. An idle database has no lag even if nothing was
 * shipped for hours. Null lag when nothing is archived yet.
 */
export async function archiveLag(
  database: string,
  backupDir: string,
): Promise<{ readonly recoveryPoint: string | null; readonly lagSeconds: number | null }> {
  const segment = await newestArchivedSegment(backupDir);
  let lastWrite = 0;
  for (const file of [database, `${database}-wal`]) {
    lastWrite = Math.max(
      lastWrite,
      await stat(file).then(
        (info) => info.mtime.getTime(),
        () => 0,
      ),
    );
  }
  const lagSeconds = segment ? Math.max(0, (lastWrite - segment.getTime()) / 1000) : null;
  return { recoveryPoint: segment?.toISOString() ?? null, lagSeconds: lagSeconds === null ? null : Number(lagSeconds.toFixed(1)) };
}

/**
 * `litestream restore` (to a second, or the latest point) into a private temporary file.
 * Litestream only matches a timestamp inside a generation's [start, end]: a target after the last
 * replicated segment ("now", or after archiving stopped) gets the archive's latest point, which is
 * the newest state at or before the target, and the recovery point says which second that is.
 */
export async function restoreArchiveToFile(
  database: string,
  backupDir: string,
  settings: ArchiveSettings,
  at: Date | null,
): Promise<ArchiveRestore> {
  const { config, env } = await writeLitestreamConfig(database, backupDir, settings);
  const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-pitr-'));
  const release = () => rm(folder, { recursive: true, force: true });
  const file = path.join(folder, 'point-in-time.db');
  const { execa } = await import('execa');
  const run = (args: readonly string[]) => execa(litestreamBinary(), [...args], { reject: false, stdin: 'ignore', all: true, env });
  let timestamp = (at ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  let useTimestamp = at !== null;
  const latest = await latestArchivedPoint(run, config, database);
  if (at && latest && at.getTime() >= Date.parse(latest.end)) {
    useTimestamp = false;
    timestamp = latest.end;
  } else if (!at && latest) {
    timestamp = latest.end;
  }
  const result = await run(['restore', '-config', config, ...(useTimestamp ? ['-timestamp', timestamp] : []), '-o', file, database]);
  if (result.exitCode !== 0) {
    await release();
    const reason = /error="([^"]+)"/.exec(result.all ?? '')?.[1] ?? (result.all ?? '').trim().split('\n').at(-1) ?? 'failed';
    return { ok: false, timestamp, reason };
  }
  // Litestream wrote it itself: no wider than the database it is a copy of.
  try {
    await chmod(file, await fileModeFrom(database));
  } catch (error) {
    await release();
    throw error;
  }
  return { ok: true, file, timestamp, release };
}

/** The newest generation's start and end, from `litestream generations`. */
async function latestArchivedPoint(
  run: (args: readonly string[]) => Promise<{ exitCode?: number | undefined; stdout?: unknown }>,
  config: string,
  database: string,
): Promise<{ start: string; end: string } | null> {
  const result = await run(['generations', '-config', config, database]);
  if (result.exitCode !== 0) return null;
  let best: { start: string; end: string } | null = null;
  for (const line of String(result.stdout ?? '')
    .split('\n')
    .slice(1)) {
    const [, , , start, end] = line.trim().split(/\s+/);
    if (!start || !end || Number.isNaN(Date.parse(end))) continue;
    if (!best || Date.parse(end) > Date.parse(best.end)) best = { start, end };
  }
  return best;
}
