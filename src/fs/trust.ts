import type { Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { GuardError } from '../errors.ts';

/**
 * Like ssh's StrictModes. migrate-guard often runs as root or a deploy account, in a folder an
 * application account can write: whoever can write the backup folder, or replace a state file,
 * can plant links for our writes to follow and forged backups or journals for our reads to trust.
 * So a folder or file we write there must be ours (or root's) and writable by nobody else, or the
 * run is refused before it reads or writes anything, with the fix. An explicit opt-out
 * (`--allow-insecure-dirs`) turns the refusal off for setups that accept the risk.
 */

export type TrustedKind = 'folder' | 'file';

export interface TrustedPath {
  readonly path: string;
  /** A folder is followed if it is a link (a backup folder on another disk is fine); a file never is. */
  readonly kind: TrustedKind;
}

/** The account this process runs as; undefined where there are no uids (Windows: nothing to check). */
function runner(): number | undefined {
  return process.geteuid?.();
}

/** What is wrong with `entry`, or null: it is missing (we create it private), or ours and not writable by others. */
export async function untrustedReason(entry: TrustedPath): Promise<{ readonly problem: string; readonly fix: string } | null> {
  const me = runner();
  if (me === undefined) return null;
  let info: Stats;
  try {
    info = entry.kind === 'folder' ? await stat(entry.path) : await lstat(entry.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (entry.kind === 'file' && !info.isFile()) {
    return { problem: `it is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}`, fix: `remove it: rm ${entry.path}` };
  }
  if (entry.kind === 'folder' && !info.isDirectory()) return { problem: 'it is not a folder', fix: `remove or move it` };
  if (info.uid !== 0 && info.uid !== me) {
    return {
      problem: `it is owned by uid ${info.uid}, neither root nor this account (uid ${me})`,
      fix: `chown ${me} ${entry.path}, or run as uid ${info.uid}`,
    };
  }
  if ((info.mode & 0o022) !== 0) {
    const who = (info.mode & 0o002) !== 0 ? 'everyone' : 'its group';
    return {
      problem: `it is writable by ${who} (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`,
      fix: `chmod go-w ${entry.path}`,
    };
  }
  return null;
}

/**
 * Refuses (exit 1, nothing read or written yet) when one of `entries` is not safe to use; the line
 * names the path, what is wrong, the fix and the opt-out.
 */
export async function requireTrustedPaths(entries: readonly TrustedPath[]): Promise<void> {
  for (const entry of entries) {
    const reason = await untrustedReason(entry);
    if (reason === null) continue;
    throw new GuardError(
      'UNSAFE_PATH',
      `refusing to use the ${entry.kind} ${entry.path}: ${reason.problem}, so another account could plant links or forged files there; fix: ${reason.fix} (or accept the risk with --allow-insecure-dirs / MIGRATE_GUARD_ALLOW_INSECURE_DIRS=1)`,
    );
  }
}
