import { open } from 'node:fs/promises';

/** The WAL header and frame header sizes of SQLite's WAL file format (sqlite.org/fileformat2.html#walformat). */
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
const MAGIC_LITTLE_ENDIAN = 0x377f0682;
const MAGIC_BIG_ENDIAN = 0x377f0683;

/** What the WAL holds as committed: the newest frame of each page, and the database's size then. */
export interface CommittedFrames {
  readonly pageSize: number;
  /** The database's size in pages after the last commit in the WAL; null when the WAL holds no commit. */
  readonly databasePages: number | null;
  /** Page number → byte offset of that page's newest committed content in the WAL file. */
  readonly pages: ReadonlyMap<number, number>;
  /** Frames read up to the last commit, for the messages. */
  readonly frames: number;
}

const NONE: CommittedFrames = { pageSize: 0, databasePages: null, pages: new Map(), frames: 0 };

/**
 * Reads a WAL file the way SQLite's own recovery does: frames are valid while their salts match
 * the header's and their cumulative checksum is right; the committed content ends at the last
 * valid commit frame. Everything after it (a transaction still being written, a rolled-back one,
 * or a previous generation's leftovers) is not the database's.
 *
 * Memory holds one entry per page in the WAL, never the pages themselves: it grows with what was
 * written since the last checkpoint, not with the database.
 */
export async function readCommittedFrames(walFile: string): Promise<CommittedFrames> {
  const handle = await open(walFile, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (handle === null) return NONE;
  try {
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    const { bytesRead } = await handle.read(header, 0, WAL_HEADER_BYTES, 0);
    if (bytesRead < WAL_HEADER_BYTES) return NONE;
    const magic = header.readUInt32BE(0);
    if (magic !== MAGIC_LITTLE_ENDIAN && magic !== MAGIC_BIG_ENDIAN) return NONE;
    const bigEndian = magic === MAGIC_BIG_ENDIAN;
    const pageSize = header.readUInt32BE(8);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return NONE;
    let sums = checksum(header.subarray(0, 24), bigEndian, [0, 0]);
    if (sums[0] !== header.readUInt32BE(24) || sums[1] !== header.readUInt32BE(28)) return NONE;
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);

    const frameBytes = FRAME_HEADER_BYTES + pageSize;
    const frame = Buffer.alloc(frameBytes);
    const committed = new Map<number, number>();
    let uncommitted = new Map<number, number>();
    let databasePages: number | null = null;
    let frames = 0;
    for (let index = 0; ; index += 1) {
      const offset = WAL_HEADER_BYTES + index * frameBytes;
      const read = await handle.read(frame, 0, frameBytes, offset);
      if (read.bytesRead < frameBytes) break;
      const page = frame.readUInt32BE(0);
      const commitSize = frame.readUInt32BE(4);
      if (page === 0 || frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
      const next = checksum(frame.subarray(FRAME_HEADER_BYTES), bigEndian, checksum(frame.subarray(0, 8), bigEndian, sums));
      if (next[0] !== frame.readUInt32BE(16) || next[1] !== frame.readUInt32BE(20)) break;
      sums = next;
      uncommitted.set(page, offset + FRAME_HEADER_BYTES);
      if (commitSize !== 0) {
        for (const [number, at] of uncommitted) committed.set(number, at);
        uncommitted = new Map();
        databasePages = commitSize;
        frames = index + 1;
      }
    }
    return { pageSize, databasePages, pages: committed, frames };
  } finally {
    await handle.close();
  }
}

/**
 * SQLite's WAL checksum: two running 32-bit sums over the data as 32-bit words, read big-endian
 * or little-endian as the header's magic number says.
 */
function checksum(data: Buffer, bigEndian: boolean, [first, second]: readonly [number, number]): [number, number] {
  let s1 = first;
  let s2 = second;
  for (let at = 0; at < data.length; at += 8) {
    const x0 = bigEndian ? data.readUInt32BE(at) : data.readUInt32LE(at);
    const x1 = bigEndian ? data.readUInt32BE(at + 4) : data.readUInt32LE(at + 4);
    s1 = (s1 + x0 + s2) >>> 0;
    s2 = (s2 + x1 + s1) >>> 0;
  }
  return [s1, s2];
}
