import { compareRestored } from '../backup/compare-facts.ts';
import type { BackupManifest, RestorePointRecord } from '../backup/manifest.ts';
import { foreignKeyCheck } from '../checks/foreign-keys.ts';
import { smokeCheck } from '../checks/smoke.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import type { Engine } from '../engines/contract.ts';
import { GuardError } from '../errors.ts';
import type { EventListener } from '../events.ts';
import { recordedMigrations } from '../history/select.ts';
import type { RestoreProof } from '../restore/restore-full.ts';

/**
 * The drill of a restore point (backups.method 'restore-point'): the archive tool restores the
 * point into a scratch data directory (`backups.restorePointDrill`, pgBackRest's `restore
 * --type=name` by default), a server of the live one's major version starts on it on a spare port
 * as the server's user, and the copy must show what the manifest recorded just before the point:
 * the integrity checks, the schema, every table's rows and the applied migrations. Row counts may
 * differ only when a transaction committed between the facts' snapshot and the point (the restored
 * copy tells), and are then reported, not failed. Stopped and removed whatever happens.
 */
export async function drillRestorePoint(options: {
  readonly live: Pick<Engine, 'name' | 'restorePoints'>;
  readonly manifest: BackupManifest & { readonly restorePoint: RestorePointRecord };
  readonly config: ResolvedConfig;
  readonly folder: string;
  readonly emit: EventListener;
}): Promise<RestoreProof> {
  const { live, manifest, config, emit } = options;
  const points = live.restorePoints;
  if (!points)
    throw new GuardError('USAGE', `${live.name} has no restore points to drill: the drill of one needs --db on its PostgreSQL server`);
  const point = manifest.restorePoint;
  emit({ type: 'step', message: `drill: restoring restore point ${point.name} with: ${config.backups.restorePointDrill}` });
  emit({ type: 'working', label: `restoring ${point.name} into a scratch data directory and waiting for its promotion` });
  const restored = await points.restore(point, config.backups.restorePointDrill, options.folder);
  try {
    const { engine } = restored;
    const fail = (message: string) => new GuardError('RECOVERY_FAILED', `the restored point ${point.name} ${message}`, { exitCode: 4 });
    emit({
      type: 'working',
      label: 'proving the restored copy: integrity, schema, row counts, applied migrations, foreign keys, smoke queries',
    });
    return await engine.read('readonly', async (reader) => {
      const integrity = await engine.integrity(reader, 'full');
      if (!integrity.ok) throw fail(`fails its integrity check: ${integrity.detail}`);
      const facts = await engine.facts(reader, recordedMigrations(engine));
      const problems = compareRestored(manifest, facts);
      const shape = compareRestored({ ...manifest, tables: {} }, { ...facts, tables: {} });
      const between = problems.length > 0 && shape.length === 0 && (await restored.committedBetween(reader));
      if (problems.length > 0 && !between) throw fail(`differs from its manifest: ${problems.join('; ')}`);
      if (between)
        emit({
          type: 'warning',
          message: `transactions committed between the facts' read and the restore point; these row counts are theirs, not compared: ${problems.join('; ')}`,
        });
      const foreignKeys = await foreignKeyCheck({ engine, reader });
      if (!foreignKeys.ok) throw fail(`has foreign-key violations: ${foreignKeys.detail}`);
      const smoke = await smokeCheck({ engine, reader }, config.checks.smoke);
      if (!smoke.ok) throw fail(`fails the smoke queries: ${smoke.detail}`);
      return {
        integrity: integrity.detail,
        tables: facts.tables,
        liveRows: {},
        appliedMigrations: facts.appliedMigrations,
        writtenSince: between ? problems : [],
      };
    });
  } finally {
    await restored.drop();
  }
}
