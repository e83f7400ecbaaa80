import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { GuardError } from '../../errors.ts';
import { writeFileAtomic } from '../../fs/atomic.ts';
import { makePrivateDir } from '../../fs/file-mode.ts';
import { removeIfPresent } from '../../fs/paths.ts';
import type { RunLock } from '../contract.ts';
import { MyConnection } from './connection.ts';
import type { MyServer } from './url.ts';

/** `migrate-guard:<database>`, hashed when that would pass the server's 64 characters for a lock name. */
export function lockName(database: string): string {
  const name = `migrate-guard:${database}`;
  return name.length <= 64 ? name : `migrate-guard:${createHash('sha256').update(database).digest('hex').slice(0, 48)}`;
}

/** What the holder file says: the lock's connection, and the process and command behind it. */
interface HolderRecord {
  readonly connection: number;
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly since: string;
}

/**
 * One run at a time per database: `GET_LOCK` on a connection of its own, held until `release` (or
 * until the connection ends: a killed run's lock goes with its session, the server frees it).
 * A refusal names the holding connection (IS_USED_LOCK, and PROCESSLIST's host and time) and,
 * when the holder file beside the run's other files names that same connection, the process
 * and command that hold it: a named lock carries no words of its own.
 */
export async function acquireMyLock(server: MyServer, command: string, holderFile: string): Promise<RunLock> {
  // A named lock is the server's, not a database's: taken before a fresh install creates the database.
  const connection = await MyConnection.open(server, null);
  const name = lockName(server.database);
  try {
    const [taken] = await connection.all<{ locked: number | string | null }>('SELECT GET_LOCK(?, 0) AS locked', [name]);
    if (Number(taken?.locked) !== 1) throw new GuardError('LOCK_HELD', await refusal(connection, name, server.database, holderFile));
    const record: HolderRecord = {
      connection: connection.threadId,
      pid: process.pid,
      host: hostname(),
      command,
      since: new Date().toISOString(),
    };
    await makePrivateDir(path.dirname(holderFile)).catch(() => undefined);
    await writeFileAtomic(holderFile, `${JSON.stringify(record)}\n`).catch(() => undefined);
  } catch (error) {
    await connection.close();
    throw error;
  }
  return {
    // A dead run's named lock died with its connection: there is never one to take over.
    tookOverFrom: null,
    async release() {
      await removeIfPresent(holderFile).catch(() => undefined);
      await connection.all('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
      await connection.close();
    },
  };
}

async function refusal(connection: MyConnection, name: string, database: string, holderFile: string): Promise<string> {
  const [used] = await connection.all<{ id: string | number | null }>('SELECT IS_USED_LOCK(?) AS id', [name]);
  const id = used?.id === null || used?.id === undefined ? null : Number(used.id);
  let who = 'another connection';
  if (id !== null) {
    const [session] = await connection
      .all<{ host: string; seconds: string | number }>('SELECT host, time AS seconds FROM information_schema.processlist WHERE id = ?', [
        id,
      ])
      .catch(() => []);
    who = `connection ${id}${session ? ` (from ${session.host}, for ${Number(session.seconds)} s)` : ''}`;
    const record = await readFile(holderFile, 'utf8')
      .then((text) => JSON.parse(text) as HolderRecord)
      .catch(() => null);
    if (record && record.connection === id) who += `: pid ${record.pid} on ${record.host}, \`${record.command}\` since ${record.since}`;
  }
  return `another migrate-guard run holds the lock on ${database}: ${who}; wait for it to finish`;
}
