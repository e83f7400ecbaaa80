import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { backupOwner, belongsTo, namedFor, sourceOf, type BackupOwner } from '../backup/identity.ts';
import { BACKUP_KINDS } from '../backup/kinds.ts';
import { manifestPathOf, readManifest } from '../backup/manifest.ts';
import type { Engine, Progress } from '../engines/contract.ts';
import { GuardError, messageOf } from '../errors.ts';
import { progressOf, type EventListener } from '../events.ts';
import { temporaryOwner } from '../fs/atomic.ts';
import { pathExists, removeIfPresent } from '../fs/paths.ts';
import type { MigrationHistory } from '../history/contract.ts';
import { recordedMigrations } from '../history/select.ts';
import { keepPreRestoreCopy } from '../restore/pre-restore-copy.ts';
import { prepareBackup } from '../restore/prepare.ts';
import { restoreFull } from '../restore/restore-full.ts';
import { RESTORE_POINT_EXTENSION, restorePointName } from '../backup/restore-point.ts';
import { backupStem } from '../backup/identity.ts';
import { changedDatabase, clearJournal, journalPath, readJournal, type JournalEntry, type RunState } from './journal.ts';

export interface Recovery {
  /** The state the interrupted run had reached. */
  readonly state: RunState;
  readonly runId: string;
  readonly pid: number;
  /** The backup that was restored, or null when the run died before changing anything. */
  readonly restoredFrom: string | null;
  /** A copy of what the database held before recovery overwrote it. */
  readonly preRestoreCopy: string | null;
}

/** What an operator does when no automatic restore can be trusted. */
export function manualRestoreAdvice(engine: Pick<Engine, 'manualRestore' | 'sidecar' | 'name'>, backup: string): string {
  // A restore point is put back by the archive tool, the whole cluster with the server stopped.
  if (backup.endsWith(RESTORE_POINT_EXTENSION)) {
    const point = restorePointName(backup, backupStem(engine.name));
    return `stop the application and the server, restore the cluster to restore point ${point} with your archive tool (pgBackRest: pgbackrest --stanza=<stanza> --delta --type=name --target=${point} --target-action=promote restore), start the server, then delete ${journalPath(engine)}`;
  }
  return `stop the application, run: ${engine.manualRestore(backup)} then delete ${journalPath(engine)}`;
}

export interface RecoverOptions {
  readonly engine: Engine;
  /** This run's backup folder: the only place a journal's backups may be. */
  readonly backupDir: string;
  readonly history: MigrationHistory;
  readonly emit: EventListener;
}

/**
 * Undoes a run that was killed, crashed or lost power: if its journal says the database may have
 * been changed, its verified pre-rollout backup goes back in (and is proven); otherwise only its
 * half-written backup is cleared away. Must be called with the run lock held.
 *
 * The application may have written to the database since the crash, so what is there now is kept
 * as a pre-restore copy first: recovery must not be the thing that loses data.
 */
export async function recoverInterruptedRun(options: RecoverOptions): Promise<Recovery | null> {
  const { engine, emit } = options;
  const entry = await readJournal(engine);
  if (entry === null) return null;
  const base = { state: entry.state, runId: entry.runId, pid: entry.pid };
  const owner = await backupOwner(engine);
  const backupDir = path.resolve(options.backupDir);
  if (!changedDatabase(entry) || entry.backup === null) {
    const pending = entry.pendingBackup
      ? checkJournalPath(engine, backupDir, owner, entry.pendingBackup, 'its half-written backup', true)
      : null;
    await removeHalfWrittenBackup(entry.pid, pending);
    await clearStaleHistoryLock(options, entry);
    await clearJournal(engine);
    emit({
      type: 'step',
      message: `an interrupted ${entry.command} (pid ${entry.pid}) had not changed the database; cleared its leftovers`,
    });
    return { ...base, restoredFrom: null, preRestoreCopy: null };
  }
  const backup = checkJournalPath(engine, backupDir, owner, entry.backup, 'its pre-rollout backup', false);
  await checkJournalBackup(engine, owner, backup);
  emit({
    type: 'warning',
    message: `an interrupted ${entry.command} (pid ${entry.pid}, ${entry.state}) may have changed the database; restoring its pre-rollout backup ${backup}`,
  });
  const applied = recordedMigrations(engine);
  let preRestoreCopy: string | null = null;
  try {
    const prepared = await prepareBackup(engine, applied, backup);
    try {
      const keepCurrent = async (snapshot: (target: string, onProgress?: Progress) => Promise<void>) => {
        try {
          preRestoreCopy = await keepPreRestoreCopy(engine, snapshot, progressOf(emit, 'backup'));
          emit({ type: 'step', message: `kept the current database as ${preRestoreCopy}` });
        } catch (error) {
          // Undoing the half-run matters more than keeping a copy of it (a full disk, say).
          emit({ type: 'warning', message: `could not keep a copy of the current database (${messageOf(error)}); restoring anyway` });
        }
      };
      await restoreFull({ engine, applied, backup: prepared, keepCurrent, onProgress: progressOf(emit, 'restore') });
      // A history the restore could not reach (a project Umzug's JSON file) is put back to match.
      if (entry.executedBefore) await options.history.reconcile?.(entry.executedBefore);
    } finally {
      await prepared.release();
    }
  } catch (error) {
    throw new GuardError(
      'RECOVERY_FAILED',
      `could not undo the interrupted run: ${messageOf(error)}; ${manualRestoreAdvice(engine, backup)}`,
      { cause: error, exitCode: 3, backup },
    );
  }
  await clearStaleHistoryLock(options, entry);
  await clearJournal(engine);
  emit({ type: 'step', message: `restored and verified ${backup}: the interrupted run is undone` });
  return { ...base, restoredFrom: backup, preRestoreCopy };
}

/**
 * A backup path the journal names, refused unless it is where this run's backups go: in a kind
 * folder of this run's backup folder (not the journal's own idea of it), and, for a file to
 * delete, under a name this database's backups get (a backup to restore must show its manifest
 * instead, see checkJournalBackup). A journal must not be able to aim a deletion or a restore
 * anywhere else.
 */
function checkJournalPath(
  engine: Pick<Engine, 'sidecar'>,
  backupDir: string,
  owner: BackupOwner,
  named: string,
  what: string,
  toDelete: boolean,
): string {
  const file = path.resolve(backupDir, named);
  const folder = path.dirname(file);
  const inKindFolder = BACKUP_KINDS.some((kind) => folder === path.join(backupDir, kind));
  if (!inKindFolder || (toDelete && !namedFor(file, owner))) {
    throw new GuardError(
      'UNTRUSTED_FILE',
      `the run journal ${journalPath(engine)} names ${what} ${named}, which is not a backup of ${owner.name} in ${backupDir}: nothing was touched; if the interrupted run used another backup folder, run again with --backup-dir set to it, otherwise check the journal and delete it`,
    );
  }
  return file;
}

/** The pre-rollout backup a journal names must have a manifest saying it is this database's. */
async function checkJournalBackup(engine: Pick<Engine, 'sidecar'>, owner: BackupOwner, file: string): Promise<void> {
  // A backup that is gone is the recovery's failure to report (exit 3: the database may be half-migrated).
  if (!(await pathExists(file))) return;
  const manifest = await readManifest(file).catch(() => null);
  if (manifest !== null && belongsTo(manifest, owner)) return;
  throw new GuardError(
    'UNTRUSTED_FILE',
    `the run journal ${journalPath(engine)} names the backup ${file}, which ${manifest === null ? 'has no valid manifest' : `is a backup of ${sourceOf(manifest)}`}, not a verified backup of ${owner.name}: nothing was touched; check the journal and delete it, then restore by hand if the database needs it`,
  );
}

/** The dead run's temporary copy (and its SQLite side files) and its unfinished backup without manifest. */
async function removeHalfWrittenBackup(pid: number, pendingBackup: string | null): Promise<void> {
  if (pendingBackup === null) return;
  const folder = path.dirname(pendingBackup);
  const names = await readdir(folder).catch((): string[] => []);
  for (const name of names) {
    if (temporaryOwner(name) === pid) await removeIfPresent(path.join(folder, name));
  }
  if (!(await pathExists(manifestPathOf(pendingBackup)))) await removeIfPresent(pendingBackup);
}

/** The history mark (knex's lock row) the dead run set; the restored backup carries it too. */
async function clearStaleHistoryLock({ engine, history }: RecoverOptions, entry: JournalEntry): Promise<void> {
  const unlock = history.unlock;
  if (entry.historyLocked && unlock && (await engine.probe()) === 'ready') await engine.read('readwrite', (reader) => unlock(reader));
}
