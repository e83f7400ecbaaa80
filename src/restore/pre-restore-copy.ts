import type { Engine, Progress } from '../engines/contract.ts';
import { commitTemporary, temporaryPath } from '../fs/atomic.ts';
import { pathExists } from '../fs/paths.ts';
import { fileStamp } from '../units.ts';

/**
 * Keeps what the database holds now as `<db>.pre-restore.<YYYYMMDD_HHMMSS>` before a restore
 * overwrites it, through the engine's snapshot so committed WAL content is included. It is not
 * verified on purpose: the database being replaced may be the broken one, and a copy of a broken
 * database is still the evidence (and the data) someone will want back.
 */
export async function keepPreRestoreCopy(
  engine: Pick<Engine, 'sidecar' | 'discardSnapshot'>,
  /** The snapshot the restore under way hands over: it reads where the restore's lock allows. */
  snapshot: (target: string, onProgress?: Progress) => Promise<void>,
  onProgress?: Progress,
): Promise<string> {
  const stamp = fileStamp(new Date());
  let target = engine.sidecar(`pre-restore.${stamp}`);
  for (let n = 2; await pathExists(target); n += 1) target = engine.sidecar(`pre-restore.${stamp}_${n}`);
  const temporary = temporaryPath(target);
  try {
    await snapshot(temporary, onProgress);
    await commitTemporary(temporary, target);
    return target;
  } catch (error) {
    await engine.discardSnapshot(temporary);
    throw error;
  }
}
