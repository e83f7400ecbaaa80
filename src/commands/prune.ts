import path from 'node:path';
import { recordJob } from '../backup/event-log.ts';
import { manifestPathOf } from '../backup/manifest.ts';
import { backupOwner } from '../backup/identity.ts';
import { planRetention, type RetentionDecision } from '../backup/retention.ts';
import { findLeftovers, listBackups } from '../backup/store.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import { engineFor } from '../engines/select.ts';
import { messageOf } from '../errors.ts';
import { removeIfPresent } from '../fs/paths.ts';

export interface PruneOptions {
  readonly backupDir: string;
  /** The database whose backups the policy applies to: another's in a shared folder are never touched. */
  readonly database: string;
  readonly config: ResolvedConfig;
  readonly dryRun?: boolean;
  /** Injectable for tests; retention windows are measured back from here. */
  readonly now?: Date;
}

export interface PruneReport {
  readonly command: 'prune';
  readonly dryRun: boolean;
  readonly ok: true;
  readonly exitCode: 0;
  /** Files removed (or, with --dry-run, that would be). */
  readonly removed: readonly string[];
  readonly kept: readonly string[];
  readonly decisions: readonly RetentionDecision[];
  /** What killed writers left (temporary files, manifests without a backup), removed (or, with --dry-run, that would be). */
  readonly leftovers: readonly string[];
}

/** Applies the retention policy; each backup goes with its manifest. */
export async function runPrune(options: PruneOptions): Promise<PruneReport> {
  const startedAt = performance.now();
  const backupDir = path.resolve(options.backupDir);
  // Only this database's backups: "a newer backup of the same day" must be one of its own.
  const owner = await backupOwner(await engineFor(options.database, { stateDir: backupDir }));
  const backups = await listBackups(backupDir, { owner });
  const decisions = planRetention(
    backups.map((entry) => ({ file: entry.path, kind: entry.kind, createdAt: entry.createdAt, verified: entry.verified })),
    options.config.retention,
    options.now ?? new Date(),
  );
  const removed = decisions.filter((decision) => decision.action === 'remove').map((decision) => decision.file);
  const leftovers = await findLeftovers(backupDir, options.now ?? new Date());
  let error: string | null = null;
  if (!options.dryRun) {
    try {
      for (const file of leftovers) await removeIfPresent(file);
      for (const file of removed) {
        // Manifest last: a half-pruned backup still says what it was.
        await removeIfPresent(file);
        await removeIfPresent(manifestPathOf(file));
      }
    } catch (caught) {
      error = messageOf(caught);
      throw caught;
    } finally {
      await recordJob(backupDir, 'prune', { startedAt, error, database: owner.name });
    }
  }
  return {
    command: 'prune',
    dryRun: options.dryRun === true,
    ok: true,
    exitCode: 0,
    removed,
    kept: decisions.filter((decision) => decision.action === 'keep').map((decision) => decision.file),
    decisions,
    leftovers,
  };
}
