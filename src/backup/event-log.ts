import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makePrivateDir, openWithMode, PRIVATE_FILE_MODE } from '../fs/file-mode.ts';
import { redactText } from '../redact.ts';
import type { BackupKind } from './kinds.ts';

/** `scrub`: a line per backup `verify --all` re-read (`file` set), then one for the whole run (`file` null). */
export type JobName = 'backup' | 'verify' | 'prune' | 'restore' | 'drill' | 'scrub';

/** One line of `<backupDir>/events.jsonl`: what a job did, for `health` and for people. */
export interface BackupEvent {
  readonly time: string;
  readonly job: JobName;
  readonly kind: BackupKind | null;
  readonly file: string | null;
  readonly bytes: number | null;
  readonly durationMs: number;
  readonly verified: boolean;
  readonly error: string | null;
  /**
   * The database the job was for (`Engine.name`: a path, a URL without its password), so that
   * `health` of one database does not alert on another's jobs in a shared backup folder. Null when
   * the job was for no one database; absent in lines written before it was recorded.
   */
  readonly database?: string | null;
}

export function eventLogPath(backupDir: string): string {
  return path.join(backupDir, 'events.jsonl');
}

export interface JobRecord {
  readonly kind?: BackupKind | null;
  readonly file?: string | null;
  readonly bytes?: number | null;
  /** `performance.now()` when the job started. */
  readonly startedAt: number;
  /** Null when the job succeeded. */
  readonly error: string | null;
  /** Whether what the job checked or wrote is proven good; default: it did not fail. */
  readonly verified?: boolean;
  /** The database the job was for (see BackupEvent.database). */
  readonly database?: string | null;
}

/**
 * Appends the job's line, best effort: a log line that cannot be written must not turn a finished
 * job into a failed one. A line is one `write` of a few hundred bytes in append mode, so
 * concurrent jobs do not interleave inside a line. The log names backups and their errors: it is
 * 0600 (narrowed if an older version left it wider), its folder 0700 when we create it.
 */
export async function recordJob(backupDir: string, job: JobName, record: JobRecord): Promise<void> {
  const event: BackupEvent = {
    time: new Date().toISOString(),
    job,
    kind: record.kind ?? null,
    file: record.file ?? null,
    bytes: record.bytes ?? null,
    durationMs: Math.round(performance.now() - record.startedAt),
    verified: record.verified ?? record.error === null,
    error: record.error === null ? null : redactText(record.error),
    database: record.database == null ? null : redactText(record.database),
  };
  try {
    await makePrivateDir(backupDir);
    const handle = await openWithMode(eventLogPath(backupDir), 'a', PRIVATE_FILE_MODE);
    try {
      await handle.write(`${JSON.stringify(event)}\n`);
    } finally {
      await handle.close();
    }
  } catch {
    // best effort, see above
  }
}

/** The log, oldest first; a torn last line (a crash mid-write) is skipped, not fatal. */
export async function readBackupEvents(backupDir: string): Promise<BackupEvent[]> {
  let text: string;
  try {
    text = await readFile(eventLogPath(backupDir), 'utf8');
  } catch {
    return [];
  }
  const events: BackupEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line) as BackupEvent);
    } catch {
      // skip a torn line
    }
  }
  return events;
}

/**
 * The events of one database's jobs: those that name it, and, from lines that name no database
 * (written before it was recorded, or a job for no one database), those whose backup file is
 * named for it or that name no file.
 */
export function eventsOf(events: readonly BackupEvent[], database: string, namedForIt: (file: string) => boolean): BackupEvent[] {
  return events.filter((event) => (event.database != null ? event.database === database : event.file === null || namedForIt(event.file)));
}
