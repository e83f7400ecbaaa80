import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { PageProgress } from '../backup/online-copy.ts';
import { copyToSelfContainedFile, removeTemporaryCopy } from '../backup/self-contained-copy.ts';
import { fsyncPath, pathExists } from '../files.ts';
import { fileStamp } from '../units.ts';

/**
 * Keeps what the database holds now as `<db>.pre-restore.<YYYYMMDD_HHMMSS>` before a restore
 * overwrites it, through the online backup API so committed WAL content is included. It is not
 * verified on purpose: the database being replaced may be the broken one, and a copy of a broken
 * database is still the evidence (and the data) someone will want back.
 */
export async function keepPreRestoreCopy(database: string, onProgress?: PageProgress): Promise<string> {
  const stamp = fileStamp(new Date());
  let target = `${database}.pre-restore.${stamp}`;
  for (let n = 2; await pathExists(target); n += 1) target = `${database}.pre-restore.${stamp}_${n}`;
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
  try {
    await copyToSelfContainedFile(database, temporary, onProgress);
    await rename(temporary, target);
    await fsyncPath(path.dirname(target));
    return target;
  } catch (error) {
    await removeTemporaryCopy(temporary);
    throw error;
  }
}
