import { stat } from 'node:fs/promises';
import { GuardError } from '../../errors.ts';
import type { AppliedReader, SnapshotProof } from '../contract.ts';
import { SqliteConnection, withConnection } from './connection.ts';
import { readFacts } from './facts.ts';
import { integrityCheck } from './integrity.ts';
import { schemaObjects } from './schema.ts';

/**
 * The full proof of a snapshot file: `integrity_check` over the mapped file, then its facts.
 * Aborting interrupts the running statement (the rollout that wanted the proof ended without it).
 */
export async function proveSnapshotFile(file: string, applied: AppliedReader, signal?: AbortSignal): Promise<SnapshotProof> {
  const { size } = await stat(file);
  return withConnection(SqliteConnection.open(file, 'readonly'), async (connection) => {
    const interrupt = () => connection.raw.interrupt();
    signal?.addEventListener('abort', interrupt);
    try {
      if (signal?.aborted) throw new GuardError('INTERRUPTED', 'the proof was abandoned');
      const integrity = await integrityCheck(connection, 'full', { mmapBytes: size });
      try {
        const facts = await readFacts(connection, applied);
        const objects = (await schemaObjects(connection)).map((entry) => `${entry.type} ${entry.name}`);
        return { integrity, facts, unreadable: null, objects };
      } catch (error) {
        if (signal?.aborted) throw error;
        return { integrity, facts: null, unreadable: (error as Error).message, objects: [] };
      }
    } finally {
      signal?.removeEventListener('abort', interrupt);
    }
  });
}
