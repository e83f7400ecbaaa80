import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { GuardError } from '../../errors.ts';
import { fsyncPath } from '../../fs/atomic.ts';
import { PRIVATE_FILE_MODE } from '../../fs/file-mode.ts';
import { removeIfPresent } from '../../fs/paths.ts';
import type { AppliedReader, DatabaseFacts, Engine, Progress, Reader, ScratchDatabase, SnapshotProof, TakenSnapshot } from '../contract.ts';
import { snapshotWithPipedProof } from '../piped-proof.ts';
import { withPg } from './connection.ts';
import { tools, type PgContext } from './context.ts';
import { pgSchemaObjects, readPgFacts } from './schema.ts';

/**
 * A `pg_dump --format=custom` of the live database to `target`. With `provenWith` (a backup):
 * the facts are read in the very transaction pg_dump dumps (an exported snapshot), and the proof,
 * a `pg_restore` into a scratch database, reads the dump's bytes as they are written; the
 * snapshot returned carries that proof under way.
 */
export async function pgSnapshot(
  context: PgContext,
  target: string,
  onProgress?: Progress,
  provenWith?: AppliedReader,
): Promise<TakenSnapshot> {
  // pg_dump says nothing countable while it works: the bar goes from nothing to done.
  await context.requireSession();
  onProgress?.(0, 1);
  let taken: TakenSnapshot;
  if (provenWith) taken = await snapshotToProve(context, target, provenWith);
  else {
    await (await tools()).dumpDatabase(context.url, target, null).catch(async (error: unknown) => {
      throw (await context.poolerBehind('when pg_dump failed')) ?? error;
    });
    taken = {
      facts: null,
      prove: (applied, signal) => provePgDump(context, target, applied, signal),
      discard: () => removeIfPresent(target),
    };
  }
  try {
    // pg_dump creates its file with the umask's mode.
    await chmod(target, PRIVATE_FILE_MODE);
    await fsyncPath(target);
  } catch (error) {
    await taken.discard();
    throw error;
  }
  onProgress?.(1, 1);
  return taken;
}

/** Proves a dump restorable: restored into a scratch database, whose facts and objects it reports. */
export function provePgDump(context: PgContext, file: string, applied: AppliedReader, signal?: AbortSignal): Promise<SnapshotProof> {
  return context.withRestoredDump(file, signal, async (scratch, restored) => {
    if (!restored.ok) {
      const pooled = await context.poolerBehind('when pg_restore into a scratch database failed');
      if (pooled) throw pooled;
      return { integrity: restored, facts: null, unreadable: restored.detail, objects: [] };
    }
    return proofOf(scratch.engine, applied);
  });
}

/** A dump restored into a scratch database, read by `work`. */
export function readPgDump<T>(context: PgContext, file: string, work: (reader: Reader) => Promise<T>): Promise<T> {
  return context.withRestoredDump(file, undefined, async (scratch, restored) => {
    if (!restored.ok) throw new GuardError('BACKUP_INVALID', `${file} does not restore: ${restored.detail}`);
    return scratch.engine.read('readonly', work);
  });
}

/**
 * A copy of the live database to rehearse on: a scratch database restored from a fresh dump.
 * pg_dump reads in one repeatable-read transaction and takes only ACCESS SHARE locks, which block
 * no reader and no writer of the live database.
 */
export async function pgRehearsal(context: PgContext, folder: string): Promise<ScratchDatabase> {
  await context.requireSession();
  const { role } = await context.roles();
  const scratch = await context.scratchDatabase(role);
  try {
    const dump = path.join(folder, 'rehearsal.dump');
    const { dumpDatabase, restoreIntoEmpty } = await tools();
    try {
      await dumpDatabase(context.url, dump, null);
    } catch (error) {
      throw (await context.poolerBehind('when pg_dump failed')) ?? error;
    }
    const restored = await restoreIntoEmpty(scratch.url, dump, { role });
    await removeIfPresent(dump);
    if (!restored.ok)
      throw (
        (await context.poolerBehind('when pg_restore into a scratch database failed')) ??
        new Error(`the rehearsal copy could not be made: ${restored.detail}`)
      );
    return scratch;
  } catch (error) {
    await scratch.drop();
    throw error;
  }
}

/**
 * A backup's dump: the facts are read in the very transaction pg_dump then dumps (an exported
 * snapshot), so the proof can demand that the restored dump shows exactly them; the proof's
 * restore reads the dump's bytes as they are written, and the snapshot returned carries it.
 */
async function snapshotToProve(context: PgContext, target: string, applied: AppliedReader): Promise<TakenSnapshot> {
  const { dumpWhileRestoring } = await tools();
  return withPg(context.url, async (connection) => {
    await connection.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const [exported] = await connection.all<{ id: string }>('SELECT pg_export_snapshot() AS id');
      const { role } = await context.roles();
      const scratch = await context.scratchDatabase(role);
      const abandon = new AbortController();
      const { dumped, restored } = await dumpWhileRestoring(context.url, exported!.id, target, scratch.url, abandon.signal, role);
      // Read in the same snapshot while pg_dump reads it: the facts the restored copy must show.
      const reading = readPgFacts(connection, applied);
      reading.catch(() => undefined);
      const piped = (async (): Promise<SnapshotProof & { readonly sha256: string }> => {
        try {
          const { sha256 } = await dumped;
          const result = await restored;
          if (!result.ok) {
            const pooled = await context.poolerBehind("when the proof's pg_restore failed");
            if (pooled) throw pooled;
            return { integrity: result, facts: null, unreadable: result.detail, objects: [], sha256 };
          }
          const proven = { ...(await proofOf(scratch.engine, applied)), sha256 };
          // A copy that restores without what the snapshot showed: through a pooler, pg_dump's
          // or pg_restore's statements ran in sessions other than their own.
          const expected = await reading.catch(() => null);
          if (expected && proven.facts && !sameContent(expected, proven.facts)) {
            const pooled = await context.poolerBehind('when the proof found the copy differing from the database');
            if (pooled) throw pooled;
          }
          return proven;
        } finally {
          await scratch.drop().catch(() => undefined);
        }
      })();
      piped.catch(() => undefined);
      let facts: DatabaseFacts;
      try {
        // The exported snapshot lives as long as this transaction: pg_dump must have it first.
        await dumped;
        facts = await reading;
      } catch (error) {
        abandon.abort();
        await piped.catch(() => undefined);
        const pooled = await context.poolerBehind('when pg_dump --snapshot failed');
        if (pooled) throw pooled;
        throw error;
      }
      // The dump was restored from its bytes as they were written: the proof holds for the file
      // once the file's bytes are shown to be those bytes.
      return snapshotWithPipedProof(target, facts, piped, abandon);
    } finally {
      await connection.exec('ROLLBACK').catch(() => undefined);
    }
  });
}

/** The schema and row counts of two reads agree (only a hint here: the backup's proof compares them for real). */
function sameContent(expected: DatabaseFacts, actual: DatabaseFacts): boolean {
  return expected.schemaHash === actual.schemaHash && JSON.stringify(expected.tables) === JSON.stringify(actual.tables);
}

/** What a restored dump holds: the proof's facts and objects, read from the scratch database. */
function proofOf(scratch: Engine, applied: AppliedReader): Promise<SnapshotProof> {
  return scratch.read('readonly', async (reader) => ({
    integrity: { ok: true, detail: 'ok (pg_restore --single-transaction --exit-on-error into a scratch database)' },
    facts: await readPgFacts(reader, applied),
    unreadable: null,
    objects: (await pgSchemaObjects(reader)).map((object) => `${object.type} ${object.name}`),
  }));
}
