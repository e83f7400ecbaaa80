import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessRunning } from '../../fs/process.ts';
import { quoteMy, type MyConnection } from './connection.ts';

const PREFIX = 'migrate_guard_scratch_';

/** This host in a scratch database's name: a pid means something only on the host that made it. */
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** `migrate_guard_scratch_<host>_<pid>_<random>`: 47 characters at most, under MySQL's 64. */
export function scratchDatabaseName(): string {
  return `${PREFIX}${HOST}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * Drops the scratch databases a killed run of this host left (a proof's load, a restore's
 * incoming or replaced tables, a rehearsal), so whole copies of the data do not pile up on the
 * server. Only names of this host whose process is gone; another host's are left for its owner.
 */
export async function sweepScratchDatabases(connection: MyConnection): Promise<string[]> {
  const rows = await connection.all<{ name: string }>(
    'SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?',
    [`${PREFIX}${HOST}\\_%`],
  );
  const dropped: string[] = [];
  for (const { name } of rows) {
    const pid = Number(/^migrate_guard_scratch_[0-9a-f]{8}_(\d+)_[0-9a-f]{8}$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || isProcessRunning(pid)) continue;
    try {
      await connection.exec(`DROP DATABASE IF EXISTS ${quoteMy(name)}`);
      dropped.push(name);
    } catch {
      // In use, or gone meanwhile: left for the next sweep.
    }
  }
  return dropped;
}
