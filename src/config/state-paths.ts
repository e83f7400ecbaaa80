import path from 'node:path';
import { eventLogPath } from '../backup/event-log.ts';
import { BACKUP_KINDS } from '../backup/kinds.ts';
import type { EngineKind } from '../engines/contract.ts';
import { engineFor } from '../engines/select.ts';
import type { TrustedPath } from '../fs/trust.ts';

/** The run's own files beside the database (or in the backup folder for a server), by suffix. */
const SIDECARS = ['migrate-guard.journal.json', 'migrate-guard.lock', 'migrate-guard.lock.json'] as const;

/**
 * What another account must not be able to change under us: the backup folder and its kind
 * folders (we write backups there and trust what we read back), the event log, and the run's
 * journal and lock files. The database's own folder is not in the list: it is usually the
 * application's, and what we write there is created exclusively, never through a link.
 */
export async function statePaths(database: string, backupDir: string, kind?: EngineKind): Promise<TrustedPath[]> {
  const folder = path.resolve(backupDir);
  const entries: TrustedPath[] = [
    { path: folder, kind: 'folder' },
    ...BACKUP_KINDS.map((kind): TrustedPath => ({ path: path.join(folder, kind), kind: 'folder' })),
    { path: eventLogPath(folder), kind: 'file' },
  ];
  try {
    const engine = await engineFor(database, { stateDir: folder, kind });
    for (const suffix of SIDECARS) entries.push({ path: engine.sidecar(suffix), kind: 'file' });
  } catch {
    // A location that names no database is refused by the command itself, with its own words.
  }
  return entries;
}
