import type { ResolvedConfig } from '../config/schema.ts';
import { engineFor } from '../engines/select.ts';
import type { EngineKind } from '../engines/contract.ts';
import { waitsOf, type EventListener } from '../events.ts';
import { loadProjectUmzug, type ProjectUmzug } from '../migrator/project-umzug.ts';
import type { AppliedMigration } from '../history/contract.ts';
import { readHistory } from '../history/read.ts';
import { folderSettings, type MigrationsSettings } from '../config/locations.ts';
import { resolveHistory } from '../history/select.ts';
import { filesOf } from '../rollout/run.ts';
import { listMigrationFiles } from '../migrator/migration-files.ts';

export interface StatusOptions {
  readonly database: string;
  /** The database's engine, as `Locations.engine` resolved it (default: read from `database` as `--db` would be). */
  readonly engine?: EngineKind | undefined;
  /** PostgreSQL behind a pooler: the server's own URL, for every connection (DIRECT_URL). */
  readonly directUrl?: string | null | undefined;
  /** The backup folder: where a server's run journal is (a PostgreSQL database has no "beside"). */
  readonly backupDir?: string | undefined;
  readonly migrationsDir: string;
  /** The knexfile's migrations settings; default: `migrationsDir` alone. */
  readonly migrations?: MigrationsSettings;
  /** A project's own Umzug, or the config naming one (`umzug`). */
  readonly umzug?: ProjectUmzug;
  readonly config?: Pick<ResolvedConfig, 'umzug'>;
  /** Events of the wait for a busy database. */
  readonly onEvent?: EventListener;
}

export interface AppliedStatus extends AppliedMigration {
  /** `changed`: the file's checksum differs from the one recorded; `missing`: no file. */
  readonly file: 'unchanged' | 'changed' | 'missing';
}

export interface StatusReport {
  readonly command: 'status';
  readonly ok: true;
  readonly exitCode: 0;
  readonly database: string;
  readonly applied: readonly AppliedStatus[];
  readonly pending: readonly string[];
  /** Applied migrations whose file changed since they ran, or is missing. */
  readonly changed: readonly string[];
}

/**
 * Applied and pending migrations. Reads through a connection that writes nothing; for a project
 * Umzug, what its storage says.
 */
export async function runStatus(options: StatusOptions): Promise<StatusReport> {
  const engine = await engineFor(options.database, { stateDir: options.backupDir, kind: options.engine, directUrl: options.directUrl });
  const database = engine.name;
  const umzug = options.umzug ?? (options.config ? await loadProjectUmzug(options.config) : null);
  if (umzug) return statusOfUmzug(database, umzug);
  const settings = options.migrations ?? folderSettings(options.migrationsDir);
  await engine.settle({ write: false, ...(options.onEvent ? { onWait: waitsOf(options.onEvent) } : {}) });
  const history = await resolveHistory(engine, settings);
  const source = filesOf(settings, history);
  const files = await listMigrationFiles(source.layout, source.naming);
  const recorded = await readHistory(engine, history);
  const byName = new Map(files.map((file) => [file.name, file]));
  const applied = recorded.map((migration): AppliedStatus => {
    const file = byName.get(migration.name);
    const state = !file ? 'missing' : migration.checksum !== null && migration.checksum !== file.checksum ? 'changed' : 'unchanged';
    return { ...migration, file: state };
  });
  const appliedNames = new Set(recorded.map((migration) => migration.name));
  return {
    command: 'status',
    ok: true,
    exitCode: 0,
    database,
    applied,
    pending: files.filter((file) => !appliedNames.has(file.name)).map((file) => file.name),
    changed: applied.filter((migration) => migration.file !== 'unchanged').map((migration) => migration.name),
  };
}

/** A project Umzug's storage keeps names only: nothing to compare files against. */
async function statusOfUmzug(database: string, umzug: ProjectUmzug): Promise<StatusReport> {
  const applied = (await umzug.executed()).map((migration): AppliedStatus => ({
    name: migration.name,
    checksum: null,
    appliedAt: '',
    durationMs: null,
    file: 'unchanged',
  }));
  const pending = (await umzug.pending()).map((migration) => migration.name);
  return { command: 'status', ok: true, exitCode: 0, database, applied, pending, changed: [] };
}
