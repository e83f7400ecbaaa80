import path from 'node:path';
import { compareFacts } from '../backup/compare-facts.ts';
import { recordJob } from '../backup/event-log.ts';
import type { BackupKind } from '../backup/kinds.ts';
import { readManifest, type BackupManifest } from '../backup/manifest.ts';
import { plainBackup } from '../backup/plain-file.ts';
import type { CheckResult } from '../checks/contract.ts';
import { engineFor, engineForBackup } from '../engines/select.ts';
import { GuardError, messageOf, type ExitCode } from '../errors.ts';
import { pathExists } from '../fs/paths.ts';
import { restorePointEntryCheck } from '../backup/restore-point.ts';
import { recordedMigrations } from '../history/select.ts';

export interface VerifyOptions {
  readonly backup: string;
  /** Where the event log is. */
  readonly backupDir: string;
  /** The live database: a PostgreSQL dump is proven on its server. */
  readonly database?: string;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
}

export interface VerifyReport {
  readonly command: 'verify';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly backup: string;
  readonly kind: BackupKind;
  readonly createdAt: string;
  readonly compressed: boolean;
  readonly checks: readonly CheckResult[];
  /** Schema objects in the backup, `type name`. */
  readonly schema: readonly string[];
  /** Row count of every table in the backup. */
  readonly tables: Readonly<Record<string, number>>;
}

/**
 * Everything that makes a backup restorable: readable, checksum(s) equal to the manifest's, a
 * snapshot of its engine by its header, the engine's full proof (SQLite: `integrity_check` exactly
 * `ok`), the schema and every table's row count equal to what was recorded when it was taken.
 * Exit 0 when all hold, 4 when one does not; a file that is not a backup at all is refused (exit 1).
 */
export async function runVerify(options: VerifyOptions): Promise<VerifyReport> {
  const file = path.resolve(options.backup);
  if (!(await pathExists(file))) throw new GuardError('USAGE', `no backup file ${file}`);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(file);
  } catch (error) {
    const engine = await engineFor(file);
    const snapshot = await engine.isSnapshot(file).catch(() => false);
    throw new GuardError(
      'BACKUP_INVALID',
      snapshot
        ? `${file} is a ${engine.snapshotLabel} but not a migrate-guard backup (no manifest beside it); nothing to verify it against`
        : `${file} is not a backup: no manifest and not a ${engine.snapshotLabel}`,
      { cause: error },
    );
  }
  const startedAt = performance.now();
  const { checks, schema, tables } = await checkBackup(file, manifest, options.database, options.directUrl);
  const ok = checks.every((check) => check.ok);
  await recordJob(path.resolve(options.backupDir), 'verify', {
    kind: manifest.kind,
    file,
    bytes: manifest.bytes,
    startedAt,
    error: ok ? null : failuresOf(checks),
    database: manifest.source,
  });
  return {
    command: 'verify',
    ok,
    exitCode: ok ? 0 : 4,
    backup: file,
    kind: manifest.kind,
    createdAt: manifest.createdAt,
    compressed: manifest.compressed,
    checks,
    schema,
    tables,
  };
}

/** What failed, as one line: `checksum: …; integrity: …`. */
export function failuresOf(checks: readonly CheckResult[]): string {
  return checks
    .filter((check) => !check.ok)
    .map((check) => `${check.name}: ${check.detail}`)
    .join('; ');
}

/**
 * The full proof of one backup against its manifest: checksum(s), header, the engine's integrity
 * check, schema and row counts. The checks say what failed; nothing throws for a bad backup.
 */
export async function checkBackup(
  file: string,
  manifest: BackupManifest,
  database?: string,
  directUrl?: string | null,
): Promise<{ readonly checks: CheckResult[]; readonly schema: readonly string[]; readonly tables: Readonly<Record<string, number>> }> {
  // The engine the backup was taken from: only its reads of a snapshot are used here.
  const engine = await engineForBackup(manifest.engine, manifest.source, database, {
    directUrl: database === undefined ? null : directUrl,
  });
  const checks: CheckResult[] = [];
  let schema: readonly string[] = [];
  let tables: Readonly<Record<string, number>> = {};
  const plain = await plainBackup(file, manifest).catch((error: unknown) => {
    checks.push({ name: 'readable', ok: false, detail: messageOf(error) });
    return null;
  });
  if (plain) {
    try {
      if (plain.compressedSha256 !== null) {
        const stored = plain.compressedSha256 === manifest.compressedSha256;
        checks.push(result('compressed-checksum', stored, `sha256 ${plain.compressedSha256.slice(0, 12)}…`));
        // Another .gz than the manifest's was not decompressed: nothing further to read.
        if (!stored) return { checks, schema, tables };
      }
      const matches = plain.sha256 === manifest.sha256;
      checks.push(
        result(
          'checksum',
          matches,
          `sha256 ${plain.sha256.slice(0, 12)}… ${matches ? 'matches' : `differs from the manifest's ${manifest.sha256.slice(0, 12)}…`}`,
        ),
      );
      // A restore point's entry: what it names must be the manifest's point (its data is in the archive).
      if (manifest.restorePoint) {
        checks.push(await restorePointEntryCheck(plain.file, manifest.restorePoint));
        return { checks, schema, tables: manifest.tables };
      }
      const header = await engine.isSnapshot(plain.file);
      checks.push(result('header', header, header ? engine.snapshotLabel : `not a ${engine.snapshotLabel}`));
      if (header) {
        try {
          const proof = await engine.proveSnapshot(plain.file, recordedMigrations(engine));
          checks.push({ name: 'integrity', ok: proof.integrity.ok, detail: proof.integrity.detail });
          if (proof.facts === null) {
            checks.push({ name: 'readable', ok: false, detail: proof.unreadable ?? 'unreadable' });
          } else {
            schema = proof.objects;
            tables = proof.facts.tables;
            checks.push(result('schema', proof.facts.schemaHash === manifest.schemaHash, `${schema.length} objects`));
            const differences = compareFacts({ ...manifest, schemaHash: proof.facts.schemaHash }, proof.facts);
            checks.push(
              result(
                'row-counts',
                differences.length === 0,
                differences.length === 0 ? `${Object.keys(tables).length} tables as recorded` : differences.join('; '),
              ),
            );
          }
        } catch (error) {
          // A missing pg_restore says nothing about the backup: a refusal, not a failed check.
          if (isToolMissing(error)) throw error;
          checks.push({ name: 'readable', ok: false, detail: messageOf(error) });
        }
      }
    } finally {
      await plain.release();
    }
  }
  return { checks, schema, tables };
}

function result(name: string, ok: boolean, detail: string): CheckResult {
  return { name, ok, detail };
}

export function isToolMissing(error: unknown): boolean {
  return error instanceof GuardError && error.code === 'TOOL_MISSING';
}
