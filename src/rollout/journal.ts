import * as v from 'valibot';
import type { Engine } from '../engines/contract.ts';
import { GuardError, messageOf } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { removeIfPresent } from '../fs/paths.ts';
import { NotRegularFileError, readRegularFile } from '../fs/regular-file.ts';

/**
 * Where a run is in the runbook. Only `migrating`, `checking` and `restoring` mean the database may
 * have been changed. Before them an interrupted run left nothing to undo; so in `grouped`, where
 * every change is in one transaction that only commits once the backup is proven and the checks
 * passed: killed before the commit, SQLite throws the transaction away on the next open; killed
 * after it, the database is the proven result.
 */
export type RunState = 'backing-up' | 'grouped' | 'migrating' | 'checking' | 'restoring';

export interface JournalEntry {
  readonly runId: string;
  readonly pid: number;
  readonly command: string;
  readonly state: RunState;
  readonly startedAt: string;
  /** Where this run writes its backup, so a recovery can clear a half-written one. */
  readonly backupDir: string;
  /** The verified pre-rollout backup; set before the first change to the database. */
  readonly backup: string | null;
  /** The backup file being written while `backing-up`, so a recovery can remove a half of it. */
  readonly pendingBackup?: string | null;
  /** The run marked the history in use for other tools (knex's lock row); a recovery clears it. */
  readonly historyLocked?: boolean;
  /**
   * For a history kept outside the database (a project Umzug's JSON file): what it said before
   * the run, so a recovery that restores the database puts it back too.
   */
  readonly executedBefore?: readonly string[];
}

type Owner = Pick<Engine, 'sidecar'>;

export function journalPath(engine: Owner): string {
  return engine.sidecar('migrate-guard.journal.json');
}

/** A journal is a few hundred bytes; anything much larger is not one. */
const MAX_JOURNAL_BYTES = 1 << 20;

const journalSchema = v.looseObject({
  runId: v.string(),
  pid: v.pipe(v.number(), v.integer(), v.minValue(1)),
  command: v.string(),
  state: v.picklist(['backing-up', 'grouped', 'migrating', 'checking', 'restoring']),
  startedAt: v.string(),
  backupDir: v.string(),
  backup: v.nullable(v.string()),
  pendingBackup: v.optional(v.nullable(v.string())),
  historyLocked: v.optional(v.boolean()),
  executedBefore: v.optional(v.array(v.string())),
});

/**
 * The journal an interrupted run left, or null. It makes the next run delete and restore files,
 * so it is trusted only as ssh trusts its files (StrictModes): a regular file, not a link, owned
 * by the account running now (or root), writable by nobody else. Otherwise, or when it is not a
 * journal at all, the run is refused (exit 1) with nothing done; what the paths it names are
 * checked against is the recovery's business (see recover.ts).
 */
export async function readJournal(engine: Owner): Promise<JournalEntry | null> {
  const file = journalPath(engine);
  const untrusted = (why: string, cause?: unknown) =>
    new GuardError(
      'UNTRUSTED_FILE',
      `the run journal ${file} ${why}: it is not trusted, and nothing it names was touched; check what wrote it, then delete it and run again`,
      cause === undefined ? {} : { cause },
    );
  const runner = process.getuid?.() ?? null;
  let text: string;
  try {
    text = await readRegularFile(file, MAX_JOURNAL_BYTES, {
      noFollow: true,
      accept(info) {
        if (runner !== null && info.uid !== runner && info.uid !== 0)
          throw untrusted(`is owned by uid ${info.uid}, not by this account (uid ${runner}) or root`);
        if ((info.mode & 0o022) !== 0)
          throw untrusted(
            `is writable by ${(info.mode & 0o002) !== 0 ? 'every account' : 'its group'} (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')})`,
          );
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (error instanceof GuardError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw untrusted('is a symbolic link', error);
    if (error instanceof NotRegularFileError) throw untrusted('is not a regular file', error);
    throw untrusted(`cannot be read (${messageOf(error)})`, error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw untrusted('is not JSON', error);
  }
  const checked = v.safeParse(journalSchema, parsed);
  if (!checked.success) throw untrusted('is not a run journal');
  return checked.output as JournalEntry;
}

export function writeJournal(engine: Owner, entry: JournalEntry): Promise<void> {
  return writeFileAtomic(journalPath(engine), `${JSON.stringify(entry, null, 2)}\n`);
}

export function clearJournal(engine: Owner): Promise<void> {
  return removeIfPresent(journalPath(engine));
}

export function changedDatabase(entry: JournalEntry): boolean {
  return entry.state === 'migrating' || entry.state === 'checking' || entry.state === 'restoring';
}
