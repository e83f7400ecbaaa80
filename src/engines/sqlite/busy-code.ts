/**
 * Whether an error's `code` is SQLite saying the database is held by another connection or being
 * recovered by one: SQLITE_BUSY (its busy timeout ran out, SQLITE_BUSY_RECOVERY included), or
 * SQLITE_PROTOCOL, a connection that lost the WAL-index race over and over for seconds (another
 * process recovering the WAL, or holding the -shm file's lock while it opens it, on a slow disk).
 * A busy database, not a bug of ours.
 */
export function isSqliteBusy(code: unknown): boolean {
  return code === 'SQLITE_BUSY' || code === 'SQLITE_PROTOCOL';
}

/** The same, of a thrown value. */
export function isDatabaseBusy(error: unknown): boolean {
  return isSqliteBusy((error as { code?: unknown } | null)?.code);
}
