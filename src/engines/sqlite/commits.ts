import type { Reader } from '../contract.ts';

/**
 * `PRAGMA data_version` moves when another connection commits, never for this connection's own
 * commits: read twice on the connection the migrations run on, it says whether the application
 * committed in between (the restore's proof reads it the same way).
 */
export async function commitMark(reader: Reader): Promise<string> {
  const [row] = await reader.all<{ data_version: number }>('PRAGMA data_version');
  return String(row?.data_version ?? '');
}

/** `data_version` changes on this connection when another connection commits. */
export async function committedSince(reader: Reader, mark: string): Promise<boolean> {
  return (await commitMark(reader)) !== mark;
}

/**
 * SQLite has one writer at a time: with no other commit since the mark, every row gone is the
 * run's. With one, the counts cannot be split between the run and the application.
 */
export async function removedByRun(reader: Reader, mark: string, _table: string, before: number, now: number): Promise<number | null> {
  return (await commitMark(reader)) === mark ? before - now : null;
}

/**
 * Whether foreign keys are enforced on this connection: then `DROP TABLE parent` deletes, by
 * ON DELETE CASCADE, every child row (SQLite runs an implicit DELETE before the drop), and the
 * usual rebuild (create, copy, drop, rename) empties the children.
 */
export async function dropCascades(reader: Reader): Promise<{ readonly off: string; readonly on: string } | null> {
  const [row] = await reader.all<{ foreign_keys: number | string }>('PRAGMA foreign_keys');
  return Number(row?.foreign_keys ?? 0) === 1 ? { off: 'PRAGMA foreign_keys = OFF', on: 'PRAGMA foreign_keys = ON' } : null;
}
