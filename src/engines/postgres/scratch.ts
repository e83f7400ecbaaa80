import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessRunning } from '../../fs/process.ts';
import { quotePg, type PgConnection } from './connection.ts';

const PREFIX = 'migrate_guard_scratch_';

/** This host in a scratch database's name: a pid means something only on the host that made it. */
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** `migrate_guard_scratch_<host>_<pid>_<random>`: 47 characters at most, under PostgreSQL's 63. */
export function scratchDatabaseName(): string {
  return `${PREFIX}${HOST}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * Drops the scratch databases a killed run of this host left (a dump's proof, a rehearsal, a
 * drill: each is dropped in `finally`, which a SIGKILL skips), so they do not pile up on the
 * server. Only names of this host whose process is gone; and without FORCE, so one somebody is
 * connected to stays. A name of another host, or of a pid reused since, is left for its owner.
 */
export async function sweepScratchDatabases(maintenance: PgConnection): Promise<string[]> {
  // Connected ones are left out up front: DROP DATABASE would wait 5 s for their sessions to end.
  const rows = await maintenance.all<{ datname: string }>(
    'SELECT datname FROM pg_database d WHERE starts_with(datname, $1) AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)',
    [`${PREFIX}${HOST}_`],
  );
  const dropped: string[] = [];
  for (const { datname } of rows) {
    const pid = Number(/^migrate_guard_scratch_[0-9a-f]{8}_(\d+)_[0-9a-f]{8}$/.exec(datname)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || isProcessRunning(pid)) continue;
    try {
      await maintenance.exec(`DROP DATABASE IF EXISTS ${quotePg(datname)}`);
      dropped.push(datname);
    } catch {
      // Somebody is connected to it (or it went meanwhile): not ours to end.
    }
  }
  return dropped;
}
