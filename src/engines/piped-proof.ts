import { sha256File } from '../fs/hash.ts';
import { removeIfPresent } from '../fs/paths.ts';
import type { DatabaseFacts, SnapshotProof, TakenSnapshot } from './contract.ts';

/** A proof that read a snapshot's bytes as they were written, and the checksum of those bytes. */
export type PipedProof = Promise<SnapshotProof & { readonly sha256: string }>;

/**
 * A server engine's snapshot whose proof began while its bytes were written (a dump restored or
 * loaded into a scratch database as it is dumped): proving it awaits that proof, which holds for
 * the file once the file's bytes are shown to be the bytes it read; discarding it interrupts the
 * proof (`abandon`) and removes the file.
 */
export function snapshotWithPipedProof(
  target: string,
  facts: DatabaseFacts | null,
  proof: PipedProof,
  abandon: AbortController,
): TakenSnapshot {
  return {
    facts,
    async prove(_applied, signal) {
      const onAbort = () => abandon.abort();
      signal?.addEventListener('abort', onAbort);
      try {
        const { sha256, ...proven } = await proof;
        if ((await sha256File(target)) !== sha256) {
          return {
            integrity: { ok: false, detail: 'the dump on disk is not the one its proof read' },
            facts: null,
            unreadable: 'checksum',
            objects: [],
          };
        }
        return proven;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    async discard() {
      abandon.abort();
      await proof.catch(() => undefined);
      await removeIfPresent(target);
    },
  };
}
