import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { recordJob } from '../backup/event-log.ts';
import type { BackupKind } from '../backup/kinds.ts';
import { recordScrub, type ScrubLevel } from '../backup/manifest.ts';
import { checksumChecks } from '../backup/scrub.ts';
import { backupOwner } from '../backup/identity.ts';
import { listBackups, type BackupEntry } from '../backup/store.ts';
import type { CheckResult } from '../checks/contract.ts';
import { engineFor } from '../engines/select.ts';
import { messageOf, type ExitCode } from '../errors.ts';
import { pathExists } from '../fs/paths.ts';
import { checkBackup, failuresOf, isToolMissing } from './verify.ts';

export interface ScrubOptions {
  /** The backup folder whose backups are re-read; its event log gets the results. */
  readonly backupDir: string;
  /** The full proof (integrity check, schema, row counts) instead of the checksums alone. */
  readonly deep?: boolean;
  /** The live database: a PostgreSQL dump's deep proof runs on its server. */
  readonly database?: string;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
}

/** One backup as the scrub found it. */
export interface ScrubbedBackup {
  readonly path: string;
  readonly kind: BackupKind;
  readonly createdAt: string;
  /**
   * `ok`: it still matches its manifest; `failed`: it does not (or cannot be read), and no longer
   * counts as verified; `skipped`: nothing to check it against yet (being written) or gone meanwhile.
   */
  readonly result: 'ok' | 'failed' | 'skipped';
  readonly error: string | null;
  readonly checks: readonly CheckResult[];
}

export interface ScrubReport {
  readonly command: 'verify';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly all: true;
  readonly deep: boolean;
  readonly backups: readonly ScrubbedBackup[];
  /** Paths of the backups that failed. */
  readonly failed: readonly string[];
  readonly durationMs: number;
}

/** A backup file without a manifest younger than this is taken for one being written, not a broken one. */
const BEING_WRITTEN_MS = 10 * 60_000;

/**
 * The runbook's "backup verification: daily, automated": every stored backup re-read against its
 * manifest (`deep`: with the full proof `verify` gives one backup). Each result is a `scrub` line in
 * the event log and is kept in the backup's manifest (see recordScrub): a backup that no longer
 * matches stops counting as verified everywhere. Exit 0 when all match, 4 when one does not.
 */
export async function runScrub(options: ScrubOptions): Promise<ScrubReport> {
  const started = performance.now();
  const backupDir = path.resolve(options.backupDir);
  const level: ScrubLevel = options.deep ? 'deep' : 'checksum';
  const results: (ScrubbedBackup & { readonly startedAt: number })[] = [];
  // Oldest first: the ones longest unread get read first if the run is cut short.
  // This database's backups only: another's in a shared folder is its own scrub's to judge.
  const owner =
    options.database === undefined
      ? null
      : await backupOwner(await engineFor(options.database, { stateDir: backupDir, directUrl: options.directUrl }));
  for (const entry of (await listBackups(backupDir, { owner })).reverse()) {
    const scrubbed = await scrubOne(entry, level, options.database, options.directUrl);
    results.push(scrubbed);
    if (scrubbed.result !== 'skipped') {
      await recordJob(backupDir, 'scrub', {
        kind: entry.kind,
        file: entry.path,
        bytes: entry.bytes,
        startedAt: scrubbed.startedAt,
        error: scrubbed.error,
        database: owner?.name ?? null,
      });
    }
  }
  const failed = results.filter((entry) => entry.result === 'failed').map((entry) => entry.path);
  const checked = results.filter((entry) => entry.result !== 'skipped').length;
  const summary =
    failed.length === 0 ? null : `${failed.length} of ${checked} backups no longer match their manifest: ${failed.join(', ')}`;
  await recordJob(backupDir, 'scrub', { startedAt: started, error: summary, database: owner?.name ?? null });
  return {
    command: 'verify',
    ok: failed.length === 0,
    exitCode: failed.length === 0 ? 0 : 4,
    all: true,
    deep: level === 'deep',
    backups: results.reverse().map(({ startedAt: _startedAt, ...entry }) => entry),
    failed,
    durationMs: Math.round(performance.now() - started),
  };
}

async function scrubOne(
  entry: BackupEntry,
  level: ScrubLevel,
  database: string | undefined,
  directUrl: string | null | undefined,
): Promise<ScrubbedBackup & { readonly startedAt: number }> {
  const startedAt = performance.now();
  const base = { path: entry.path, kind: entry.kind, createdAt: entry.createdAt, startedAt };
  const skipped = (why: string) => ({ ...base, result: 'skipped' as const, error: why, checks: [] });
  const { manifest } = entry;
  if (manifest === null) {
    const info = await lstat(entry.path).catch(() => null);
    if (info === null) return skipped('removed while the scrub ran');
    // A FIFO, a link or a device is never a backup being written: it fails at once.
    if (info.isFile() && Date.now() - info.mtimeMs < BEING_WRITTEN_MS) return skipped('no manifest yet: being written');
    return {
      ...base,
      result: 'failed',
      error: entry.problem ?? 'no readable manifest beside it: nothing proves what it holds',
      checks: [],
    };
  }
  let checks: CheckResult[];
  try {
    checks =
      level === 'deep' ? (await checkBackup(entry.path, manifest, database, directUrl)).checks : await checksumChecks(entry.path, manifest);
  } catch (error) {
    // The host cannot run the proof (no pg_restore): the whole scrub is refused, no manifest touched.
    if (isToolMissing(error)) throw error;
    checks = [{ name: 'readable', ok: false, detail: messageOf(error) }];
  }
  const ok = checks.every((check) => check.ok);
  if (!ok && !(await pathExists(entry.path))) return skipped('removed while the scrub ran');
  let error = ok ? null : failuresOf(checks);
  try {
    await recordScrub(entry.path, manifest, { at: new Date().toISOString(), level, error });
  } catch (caught) {
    error = `${error ?? 'it matches'}, but the result could not be kept in its manifest: ${messageOf(caught)}`;
  }
  return { ...base, result: error === null ? 'ok' : 'failed', error, checks };
}
