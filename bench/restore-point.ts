/**
 * The pre-rollout backup on PostgreSQL in both `backups.method`s (issue 21), on a cluster of the
 * bench's own whose WAL pgBackRest archives (the tests' helper): a `migrate` with one trivial
 * migration, its backup phase read from the report's timings (`copy` + `proof` + `catchUp`: the
 * dump and its scratch restore, or the restore point, the WAL switch and the wait for its segment
 * to be archived). Run by bench/run.ts, or alone for the README's figures:
 *   node --import tsx bench/restore-point.ts --size-mb 1000 [--repeats 3]
 * Skipped, with the reason, where pgBackRest or Debian's cluster tools are missing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { withPg } from '../src/engines/postgres/connection.ts';
import { ARCHIVED_CLUSTER_MISSING, createArchivedCluster } from '../test/helpers/archived-cluster.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO, 'bin/migrate-guard.js');

export interface BackupSample {
  readonly seconds: number;
  readonly rssKb: null;
  readonly anonKb: null;
  /** The whole `migrate`, wall time. */
  readonly wallSeconds: number;
}

export interface RestorePointBench {
  readonly restorePoint: BackupSample[];
  readonly pgDump: BackupSample[];
  readonly databaseMiB: number;
}

/** Null with the reason when it cannot run here. */
export async function benchRestorePoint(options: {
  readonly sizeMb: number;
  readonly repeats: number;
  /** A migrations folder: the repository's migrations plus `29990101000000_add_account_memo`. */
  readonly migrationsPlusOne: string;
  readonly log: (text: string) => void;
}): Promise<RestorePointBench | { readonly skipped: string }> {
  if (ARCHIVED_CLUSTER_MISSING !== null) return { skipped: ARCHIVED_CLUSTER_MISSING };
  const { log } = options;
  log(`an archived cluster (pg_createcluster, pgBackRest stanza-create and a full backup)…`);
  const cluster = await createArchivedCluster('mg_bench_rp');
  // The runs' working folder: no migrate-guard.config.ts (the repository's is for its own SQLite database).
  const cwd = await mkdtemp(path.join(tmpdir(), 'migrate-guard-bench-rp-'));
  const backups = path.join(cwd, 'backups');
  try {
    const url = cluster.url(`mg_bench_rp_${options.sizeMb}mb`);
    // The data is generated with archiving short-circuited (a GB of WAL pushed would measure
    // pgBackRest, not us); the pushes are pgBackRest's again for every measured run. The bench
    // never restores, so the gap this leaves in the archive does not matter.
    const pushCommand = `pgbackrest --config=${cluster.config} --stanza=${cluster.stanza} archive-push %p`;
    await cluster.set('archive_command', 'true');
    log(`generating a ${options.sizeMb} MB DMS database on the archived cluster…`);
    await execa('node', ['--import', 'tsx', path.join(REPO, 'bench/make-large-pg.ts'), url, String(options.sizeMb)], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await withPg(url, (connection) => connection.exec('CHECKPOINT; SELECT pg_switch_wal()'));
    await cluster.set('archive_command', pushCommand);
    const databaseMiB: number = await withPg(url, async (connection) =>
      Math.round(Number((await connection.all<{ n: string }>('SELECT pg_database_size(current_database()) AS n'))[0]!.n) / 2 ** 20),
    );
    const revert = async () => {
      await rm(backups, { recursive: true, force: true });
      await withPg(url, (connection) =>
        connection.exec(
          "ALTER TABLE accounts DROP COLUMN IF EXISTS memo; DELETE FROM migrate_guard_migrations WHERE name = '29990101000000_add_account_memo'",
        ),
      );
    };
    const run = async (method: 'pg_dump' | 'restore-point'): Promise<BackupSample> => {
      await revert();
      const started = performance.now();
      const result = await execa(
        'node',
        [BIN, 'migrate', '--json', '--db', url, '--backup-dir', backups, '--migrations', options.migrationsPlusOne],
        { cwd, reject: false, stdin: 'ignore', env: { ...cluster.env, MIGRATE_GUARD_BACKUP_METHOD: method } },
      );
      const wallSeconds = (performance.now() - started) / 1000;
      if (result.exitCode !== 0) throw new Error(`migrate (${method}) exited ${result.exitCode}: ${result.stderr.slice(-800)}`);
      const timings = (JSON.parse(result.stdout) as { timings: Record<string, number | undefined> }).timings;
      const ms = (timings.copy ?? 0) + (timings.proof ?? 0) + (timings.catchUp ?? 0);
      log(`  ${method}: backup phase ${(ms / 1000).toFixed(2)} s, whole migrate ${wallSeconds.toFixed(2)} s`);
      return { seconds: ms / 1000, rssKb: null, anonKb: null, wallSeconds };
    };
    // Restore points first: the pg_dump mode's proof restores the whole database into a scratch
    // one on this cluster, whose WAL the archiver then pushes for a while.
    const restorePoint: BackupSample[] = [];
    for (let i = 0; i < options.repeats; i += 1) restorePoint.push(await run('restore-point'));
    const pgDump: BackupSample[] = [];
    for (let i = 0; i < options.repeats; i += 1) pgDump.push(await run('pg_dump'));
    await revert();
    return { restorePoint, pgDump, databaseMiB };
  } finally {
    await rm(cwd, { recursive: true, force: true });
    await cluster.drop();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { 'size-mb': { type: 'string', default: '1000' }, repeats: { type: 'string', default: '3' } } });
  const migrationsPlusOne = await mkdtemp(path.join(tmpdir(), 'migrate-guard-bench-rp-migrations-'));
  try {
    await execa('bash', ['-c', `cp ${path.join(REPO, 'migrations')}/* ${migrationsPlusOne}/`]);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      path.join(migrationsPlusOne, '29990101000000_add_account_memo.ts'),
      `import type { Knex } from 'knex';
export async function up({ context: knex }: { context: Knex }) { await knex.schema.alterTable('accounts', (t) => { t.text('memo'); }); }
export async function down({ context: knex }: { context: Knex }) { await knex.schema.alterTable('accounts', (t) => { t.dropColumn('memo'); }); }
`,
    );
    const result = await benchRestorePoint({
      sizeMb: Number(values['size-mb']),
      repeats: Number(values.repeats),
      migrationsPlusOne,
      log: (text) => console.error(text),
    });
    if ('skipped' in result) console.log(`restore-point rows skipped: ${result.skipped}`);
    else console.log(formatRestorePointRows(result).join('\n'));
  } finally {
    await rm(migrationsPlusOne, { recursive: true, force: true });
  }
}

/** The rows as bench/results.md writes them: medians, ratio, the target. */
export function formatRestorePointRows(result: RestorePointBench): string[] {
  const median = (samples: readonly BackupSample[], key: 'seconds' | 'wallSeconds') =>
    [...samples].map((sample) => sample[key]).sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
  const point = median(result.restorePoint, 'seconds');
  const dump = median(result.pgDump, 'seconds');
  return [
    `PostgreSQL pre-rollout backup at ${result.databaseMiB} MiB (archived cluster, median of ${result.restorePoint.length}):`,
    `| backups.method | backup phase | whole migrate | all runs (backup phase) |`,
    `|---|---|---|---|`,
    `| restore-point | ${point.toFixed(2)} s | ${median(result.restorePoint, 'wallSeconds').toFixed(2)} s | ${result.restorePoint.map((s) => s.seconds.toFixed(2)).join(', ')} |`,
    `| pg_dump | ${dump.toFixed(2)} s | ${median(result.pgDump, 'wallSeconds').toFixed(2)} s | ${result.pgDump.map((s) => s.seconds.toFixed(2)).join(', ')} |`,
    `ratio restore-point / pg_dump: ${(point / dump).toFixed(3)}x (target ≤ 2 s at any size, ≤ 0.2x at 1 GB)`,
  ];
}
