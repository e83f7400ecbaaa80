import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { GuardError } from '../../errors.ts';
import { fsyncPath } from '../../fs/atomic.ts';
import type { FileMode } from '../../fs/file-mode.ts';
import type { AppliedReader, CaughtUp, DatabaseFacts, Progress, SnapshotFollower } from '../contract.ts';
import { SqliteConnection, withConnection } from './connection.ts';
import { schemaObjects } from './schema.ts';
import { copyFrom } from './self-contained-copy.ts';
import { readCommittedFrames } from './wal-frames.ts';

/** The copy is fingerprinted in 1 MiB chunks: 4 bytes of memory per MiB of database. */
const CHUNK = 1 << 20;

/**
 * A snapshot of the live database that can later be brought up to what the database committed
 * since, in time that grows with what changed, not with the database (issue 18: the pre-rollout
 * backup is proven while the application runs, and the run's write lock only waits for the
 * catch-up).
 *
 * WAL mode: a read transaction is held from before the copy until the catch-up. While a reader
 * holds a snapshot, SQLite can neither restart the WAL nor checkpoint past that snapshot, so every
 * page committed after it is still in the WAL when the catch-up reads it (the newest committed
 * frame of each page, found exactly as SQLite's own recovery finds it). The held reader blocks no
 * writer; the WAL only grows until the catch-up.
 *
 * Rollback-journal mode: holding a reader would block the application's writers, so nothing is
 * held and there is no catch-up (`catchUp` says null): the backup is the proven snapshot. The live
 * file is never opened here with the file system: closing any descriptor of a file drops every
 * POSIX lock this process holds on it, SQLite's own included (the run's write lock), so a page
 * compare under the lock would hand the lock to the application (the torture caught exactly that:
 * an application commit inside the group, then SQLITE_IOERR at COMMIT).
 */
export async function followSnapshot(database: string, target: string, mode: FileMode, onProgress?: Progress): Promise<SnapshotFollower> {
  const source = await SqliteConnection.open(database, 'readonly');
  let held: SqliteConnection | null = null;
  let wal: boolean;
  try {
    wal = (await source.get<{ journal_mode: string }>('PRAGMA journal_mode'))?.journal_mode === 'wal';
    if (wal) {
      // The backup API copies in the source connection's own read transaction when one is open:
      // the copy is exactly this snapshot, and the snapshot stays held after it.
      await source.exec('BEGIN');
      await source.all('SELECT COUNT(*) FROM sqlite_master');
      held = source;
    }
    await copyFrom(source, target, onProgress, mode);
  } catch (error) {
    await source.close().catch(() => undefined);
    throw error;
  }
  if (held === null) await source.close();
  const release = async () => {
    const connection = held;
    held = null;
    if (connection) await connection.close().catch(() => undefined);
  };
  let fingerprint: Uint32Array;
  try {
    await withConnection(SqliteConnection.open(target, 'readwrite'), (copy) => copy.exec('PRAGMA journal_mode = DELETE'));
    await fsyncPath(target);
    fingerprint = await chunkFingerprint(target);
  } catch (error) {
    await release();
    throw error;
  }
  return {
    release,
    async catchUp(expected, history) {
      // Rollback-journal mode: nothing was held, so nothing is known of what changed since; the
      // live file is never opened here to compare (see below), so there is nothing to catch up.
      if (!wal) return null;
      // The held read transaction kept the database in WAL mode (leaving it takes an exclusive
      // lock) and every page committed since the copy in the WAL.
      const copy = await open(target, 'r+');
      let patched: Patched;
      try {
        patched = await patchFromWal(database, copy, fingerprint);
      } catch (error) {
        await copy.close().catch(() => undefined);
        throw error;
      } finally {
        await release();
      }
      const proven = (async (): Promise<CaughtUp> => {
        try {
          await copy.sync();
        } finally {
          await copy.close();
        }
        const sha256 = await verifyAgainst(target, patched.expected);
        const facts = await checkFacts(target, expected, history);
        return { sha256, facts, pages: patched.pages };
      })();
      proven.catch(() => undefined);
      return { pages: patched.pages, applied: proven };
    },
  };
}

interface Patched {
  /** Pages written into the copy. */
  readonly pages: number;
  /** The crc32 every 1 MiB chunk of the caught-up copy must have. */
  readonly expected: Uint32Array;
}

/**
 * Writes the newest committed frame of each page into the copy. Each chunk a page lands in is read
 * first and must still be the bytes that were proven; its expected crc is then that of the
 * patched chunk. Page 1 keeps the copy's rollback-journal mode (bytes 18-19), as `PRAGMA
 * journal_mode = DELETE` left it: a backup file must not ask for a -wal beside it.
 */
async function patchFromWal(database: string, copy: FileHandle, fingerprint: Uint32Array): Promise<Patched> {
  const frames = await readCommittedFrames(`${database}-wal`);
  if (frames.databasePages === null) return { pages: 0, expected: fingerprint };
  const pageSize = await pageSizeOf(copy);
  if (pageSize !== frames.pageSize) {
    throw new GuardError('BACKUP_FAILED', `the page size of ${database} changed while it was being backed up; run again`);
  }
  const wal = await open(`${database}-wal`, 'r');
  try {
    const provenBytes = (await copy.stat()).size;
    const finalBytes = frames.databasePages * pageSize;
    const byChunk = new Map<number, number[]>();
    for (const page of frames.pages.keys()) {
      if (page > frames.databasePages) continue; // truncated away by a later commit (VACUUM)
      const chunk = Math.floor(((page - 1) * pageSize) / CHUNK);
      byChunk.set(chunk, [...(byChunk.get(chunk) ?? []), page]);
    }
    // A chunk the file's new end cuts or extends changes without a page of it being written.
    for (let chunk = Math.floor(Math.min(provenBytes, finalBytes) / CHUNK); chunk * CHUNK < finalBytes; chunk += 1) {
      if (lengthOf(chunk, provenBytes) !== lengthOf(chunk, finalBytes) && !byChunk.has(chunk)) byChunk.set(chunk, []);
    }
    const expected = new Uint32Array(Math.ceil(finalBytes / CHUNK));
    expected.set(fingerprint.subarray(0, expected.length));
    const buffer = Buffer.alloc(CHUNK);
    let pages = 0;
    for (const [chunk, inChunk] of [...byChunk].sort((a, b) => a[0] - b[0])) {
      const start = chunk * CHUNK;
      await readProvenChunk(copy, buffer, chunk, fingerprint);
      for (const page of inChunk) {
        const at = (page - 1) * pageSize - start;
        await wal.read(buffer, at, pageSize, frames.pages.get(page)!);
        if (page === 1) buffer.fill(1, 18, 20);
        await copy.write(buffer, at, pageSize, start + at);
        pages += 1;
      }
      expected[chunk] = crc32(buffer.subarray(0, lengthOf(chunk, finalBytes)));
    }
    await copy.truncate(finalBytes);
    return { pages, expected };
  } finally {
    await wal.close();
  }
}

/** How many bytes of chunk `chunk` a file of `bytes` has. */
function lengthOf(chunk: number, bytes: number): number {
  return Math.max(0, Math.min(CHUNK, bytes - chunk * CHUNK));
}

/** Reads chunk `chunk` of the copy into `buffer` and proves it is still what was fingerprinted; its length. */
async function readProvenChunk(copy: FileHandle, buffer: Buffer, chunk: number, fingerprint: Uint32Array): Promise<number> {
  buffer.fill(0);
  const { bytesRead } = await copy.read(buffer, 0, CHUNK, chunk * CHUNK);
  if (chunk < fingerprint.length && crc32(buffer.subarray(0, bytesRead)) !== fingerprint[chunk]) {
    throw new GuardError(
      'BACKUP_UNVERIFIED',
      'the backup failed verification and was deleted: the proven copy changed on disk before the catch-up',
      {
        exitCode: 4,
      },
    );
  }
  return bytesRead;
}

async function pageSizeOf(copy: FileHandle): Promise<number> {
  const header = Buffer.alloc(18);
  await copy.read(header, 0, 18, 0);
  const size = header.readUInt16BE(16);
  return size === 1 ? 65536 : size;
}

/** crc32 per 1 MiB chunk of a file. */
export async function chunkFingerprint(file: string): Promise<Uint32Array> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const crcs = new Uint32Array(Math.ceil(size / CHUNK));
    const buffer = Buffer.alloc(CHUNK);
    for (let chunk = 0; chunk < crcs.length; chunk += 1) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, chunk * CHUNK);
      crcs[chunk] = crc32(buffer.subarray(0, bytesRead));
    }
    return crcs;
  } finally {
    await handle.close();
  }
}

/**
 * The caught-up copy read back in full once: its sha256 (the manifest's checksum) and every chunk
 * against what it must be (proven bytes, or proven bytes with committed pages written in).
 */
async function verifyAgainst(file: string, expected: Uint32Array): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (Math.ceil(size / CHUNK) !== expected.length) throw unverified(`the caught-up copy has ${size} bytes, not the database's size`);
    const buffer = Buffer.alloc(CHUNK);
    for (let chunk = 0; chunk < expected.length; chunk += 1) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, chunk * CHUNK);
      const bytes = buffer.subarray(0, bytesRead);
      if (crc32(bytes) !== expected[chunk])
        throw unverified(`bytes ${chunk * CHUNK}-${chunk * CHUNK + bytesRead} of the caught-up copy are not what was proven`);
      hash.update(bytes);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * The caught-up copy is byte for byte the database as the write lock found it, whose facts the
 * run read inside its lock: the copy must show the same schema and history (cheap reads); its row
 * counts are those facts' (counting every table again would be a pass over the whole file).
 */
async function checkFacts(file: string, expected: DatabaseFacts, applied: AppliedReader): Promise<DatabaseFacts> {
  return withConnection(SqliteConnection.open(file, 'readonly'), async (copy) => {
    const schema = await schemaObjects(copy);
    const schemaHash = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
    if (schemaHash !== expected.schemaHash) throw unverified('the caught-up copy does not have the schema the database had');
    if ((await applied(copy)).join() !== expected.appliedMigrations.join()) {
      throw unverified('the caught-up copy does not have the history the database had');
    }
    const [pageCount] = await copy.all<{ page_count: number }>('PRAGMA page_count');
    return { ...expected, details: { ...expected.details, pageCount: pageCount?.page_count ?? 0 } };
  });
}

function unverified(reason: string): GuardError {
  return new GuardError('BACKUP_UNVERIFIED', `the backup failed verification and was deleted: ${reason}`, { exitCode: 4 });
}
