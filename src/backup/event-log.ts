import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BackupKind } from './manifest.ts';

export type JobName = 'backup' | 'verify' | 'prune' | 'restore' | 'drill';

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
}

export function eventLogPath(backupDir: string): string {
  return path.join(backupDir, 'events.jsonl');
}

/**
 * Appends one JSON line. A line is written with one `write` of a few hundred bytes in append
 * mode, so concurrent jobs do not interleave inside a line.
 */
export async function appendBackupEvent(backupDir: string, event: BackupEvent): Promise<void> {
  await mkdir(backupDir, { recursive: true });
  await appendFile(eventLogPath(backupDir), `${JSON.stringify(event)}\n`);
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

/** The line for a job about one file with no kind or size of its own (restore, drill); best effort. */
export async function recordFileJob(backupDir: string, job: JobName, file: string, durationMs: number, error: string | null): Promise<void> {
  await appendBackupEvent(backupDir, {
    time: new Date().toISOString(),
    job,
    kind: null,
    file,
    bytes: null,
    durationMs,
    verified: error === null,
    error,
  }).catch(() => undefined);
}
