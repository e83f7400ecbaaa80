import path from 'node:path';
import { appendBackupEvent } from '../backup/event-log.ts';
import { compareSnapshots, readManifest, snapshotDatabase, type BackupKind, type BackupManifest } from '../backup/manifest.ts';
import { plainBackup } from '../backup/plain-file.ts';
import { integrityCheck } from '../checks/integrity.ts';
import type { CheckResult } from '../checks/contract.ts';
import { assertSqliteFile, hasSqliteHeader, SqliteConnection } from '../db.ts';
import { GuardError, messageOf, type ExitCode } from '../errors.ts';
import { pathExists } from '../files.ts';

export interface VerifyOptions {
  readonly backup: string;
  /** Where the event log is. */
  readonly backupDir: string;
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
 * SQLite header, `integrity_check` exactly `ok`, the schema and every table's row count equal to
 * what was recorded when it was taken. Exit 0 when all hold, 4 when one does not; a file that is
 * not a backup at all is refused (exit 1).
 */
export async function runVerify(options: VerifyOptions): Promise<VerifyReport> {
  const file = path.resolve(options.backup);
  if (!(await pathExists(file))) throw new GuardError('USAGE', `no backup file ${file}`);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(file);
  } catch (error) {
    const sqlite = await assertSqliteFile(file).then(() => true, () => false);
    throw new GuardError(
      'BACKUP_INVALID',
      sqlite
        ? `${file} is a SQLite file but not a migrate-guard backup (no manifest beside it); nothing to verify it against`
        : `${file} is not a backup: no manifest and not a SQLite file`,
      { cause: error },
    );
  }
  const started = performance.now();
  const checks: CheckResult[] = [];
  let schema: string[] = [];
  let tables: Record<string, number> = {};
  const plain = await plainBackup(file, manifest).catch((error: unknown) => {
    checks.push({ name: 'readable', ok: false, detail: messageOf(error) });
    return null;
  });
  if (plain) {
    try {
      if (plain.compressedSha256 !== null) {
        checks.push(result('compressed-checksum', plain.compressedSha256 === manifest.compressedSha256, `sha256 ${plain.compressedSha256.slice(0, 12)}…`));
      }
      checks.push(result('checksum', plain.sha256 === manifest.sha256, `sha256 ${plain.sha256.slice(0, 12)}… ${plain.sha256 === manifest.sha256 ? 'matches' : `differs from the manifest's ${manifest.sha256.slice(0, 12)}…`}`));
      const header = await hasSqliteHeader(plain.file);
      checks.push(result('header', header, header ? 'SQLite format 3' : 'not a SQLite file'));
      if (header) {
        const connection = await SqliteConnection.open(plain.file, 'readonly');
        try {
          const integrity = await integrityCheck(connection, 'full');
          checks.push({ name: 'integrity', ok: integrity.ok, detail: integrity.detail });
          const snapshot = await snapshotDatabase(connection);
          schema = (await connection.all<{ type: string; name: string }>(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
          )).map((entry) => `${entry.type} ${entry.name}`);
          tables = { ...snapshot.tables };
          checks.push(result('schema', snapshot.schemaHash === manifest.schemaHash, `${schema.length} objects`));
          const differences = compareSnapshots({ ...manifest, schemaHash: snapshot.schemaHash }, snapshot);
          checks.push(result('row-counts', differences.length === 0, differences.length === 0 ? `${Object.keys(tables).length} tables as recorded` : differences.join('; ')));
        } catch (error) {
          checks.push({ name: 'readable', ok: false, detail: messageOf(error) });
        } finally {
          await connection.close();
        }
      }
    } finally {
      await plain.release();
    }
  }
  const ok = checks.every((check) => check.ok);
  await appendBackupEvent(path.resolve(options.backupDir), {
    time: new Date().toISOString(),
    job: 'verify',
    kind: manifest.kind,
    file,
    bytes: manifest.bytes,
    durationMs: Math.round(performance.now() - started),
    verified: ok,
    error: ok ? null : checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`).join('; '),
  }).catch(() => undefined);
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

function result(name: string, ok: boolean, detail: string): CheckResult {
  return { name, ok, detail };
}
