/**
 * The torture on SQLite: a database file of a few MB per case (a copy of a template's folder),
 * read by the oracle through plain sqlite3 connections (db.ts); WAL or rollback journal drawn per case.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { copyProject } from './case.ts';
import { COMMANDS, type CommandSpec } from './commands.ts';
import { PAIRS } from './concurrency.ts';
import { contentHash, fileContentHash, sqlExec, withDb } from './db.ts';
import { DISK_COMMANDS } from './disk.ts';
import type { Inspection, TortureEngine } from './engine.ts';
import { buildTemplates, PENDING, writeFiles, type ProjectPaths, type Templates } from './fixture.ts';
import { preRestoreCopies } from './invariants.ts';
import { startWriter } from './writer.ts';

function templateOf(templates: Templates, spec: CommandSpec): ProjectPaths {
  return spec.template === 'base' ? templates.base : templates.applied[spec.template];
}

export const sqliteTorture: TortureEngine = {
  name: 'sqlite',
  commands: COMMANDS.map((spec) => spec.name),
  diskCommands: DISK_COMMANDS,
  pairs: PAIRS.filter((pair) => pair !== 'restore during a writer'),

  async unavailable(log) {
    const hasLitestream = (() => {
      try {
        return existsSync(createRequire(import.meta.url).resolve(`@flydotio/litestream-${process.platform}-${process.arch}/litestream`));
      } catch {
        return false;
      }
    })();
    if (hasLitestream) return new Set();
    log('skipping archive and restore-during-archive: the Litestream binary is missing (npm install @flydotio/litestream-linux-x64)');
    return new Set(['archive', 'restore during archive']);
  },
  buildTemplates,
  async prepare(templates, spec, dir) {
    const project = await copyProject(templateOf(templates, spec), dir);
    if (spec.pending) await writeFiles(project.migrations, PENDING[spec.pending]);
    return project;
  },
  // The file goes with the case's folder.
  dispose: async () => undefined,
  close: async () => undefined,
  async vary(project, rng, params, force) {
    const wal = force === 'wal' || rng.chance(0.5);
    if (wal) await sqlExec(project.db, 'PRAGMA journal_mode = WAL');
    params.journal = wal ? 'wal' : 'delete';
  },
  contentHash: (project) => fileContentHash(project.db),
  async snapshotContentHash(file, compressed, tmp) {
    let plain = file;
    if (compressed) {
      plain = path.join(tmp, `snapshot-check-${process.pid}.db`);
      await writeFile(plain, gunzipSync(await readFile(file)));
    }
    try {
      return await fileContentHash(plain);
    } finally {
      if (plain !== file) await rm(plain, { force: true });
    }
  },
  inspect: (project) =>
    // Read-write, as the application would open it: a dead writer's hot journal is rolled back.
    withDb(project.db, 'readwrite', async (connection): Promise<Inspection> => {
      const problems: { invariant: string; detail: string }[] = [];
      const integrity = await connection.all<{ integrity_check: string }>('PRAGMA integrity_check');
      if (integrity.length !== 1 || integrity[0]?.integrity_check !== 'ok')
        problems.push({ invariant: 'integrity_check is ok', detail: JSON.stringify(integrity.slice(0, 5)) });
      const foreignKeys = await connection.all('PRAGMA foreign_key_check');
      if (foreignKeys.length > 0)
        problems.push({
          invariant: 'foreign_key_check is empty',
          detail: `${foreignKeys.length} rows, first ${JSON.stringify(foreignKeys.slice(0, 3))}`,
        });
      const torn = await connection.all<{ tag: string }>(
        'SELECT tag FROM ledger WHERE tag NOT IN (SELECT tag FROM journal_entries) UNION ALL SELECT tag FROM journal_entries WHERE tag NOT IN (SELECT tag FROM ledger) LIMIT 5',
      );
      const tags = new Set((await connection.all<{ tag: string }>('SELECT tag FROM ledger')).map((row) => row.tag));
      return {
        problems,
        hash: await contentHash(connection),
        tags,
        torn: torn.map((row) => row.tag),
        state: await describeState(connection),
      };
    }),
  async preRestoreTags(project) {
    const copies = await preRestoreCopies(project.db);
    const tags = new Set<string>();
    for (const copy of copies) {
      const rows = await withDb(copy, 'readonly', (db) => db.all<{ tag: string }>('SELECT tag FROM ledger')).catch(() => []);
      for (const { tag } of rows) tags.add(tag);
    }
    return { copies: copies.length, tags };
  },
  preRestoreWatch: (project) => ({ folder: path.dirname(project.db), prefix: `${path.basename(project.db)}.pre-restore.` }),
  journalOf: (project) => `${project.db}.migrate-guard.journal.json`,
  startWriter: (project, idsFile, prefix, seed, pace) => startWriter(project.db, idsFile, prefix, seed, pace),
  // A file database leaves nothing elsewhere: its journal and lock files are checked by the next migrate.
  checkLeftovers: async () => undefined,
  namesHolder: (message, holder) => message.includes(`pid ${holder}`),
  async sizes(template, templates) {
    return {
      snapshotBytes: (await stat(template.db)).size,
      gzipBytes: (await stat(path.join(templates.base.backups, templates.dailyBackup))).size,
      movedBytes: (await stat(template.db)).size + (await folderBytes(template.backups)),
      headroomBytes: 0,
    };
  },
  async moveOnDisk(template, diskDir) {
    const project = {
      dir: template.dir,
      db: path.join(diskDir, 'app.db'),
      migrations: template.migrations,
      backups: path.join(diskDir, 'backups'),
    };
    await cp(template.db, project.db);
    await cp(template.backups, project.backups, { recursive: true });
    await rm(template.db);
    await rm(template.backups, { recursive: true });
    await mkdir(path.join(diskDir, 'tmp'));
    return { project, place: { project, tmp: path.join(diskDir, 'tmp') } };
  },
};

/** A few facts that tell a wrong state at a glance: applied migrations, tables, row counts. */
async function describeState(connection: Parameters<typeof contentHash>[0]): Promise<string> {
  const applied = await connection.all<{ name: string }>('SELECT name FROM migrate_guard_migrations ORDER BY name').catch(() => []);
  const tables = await connection.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  const counts: string[] = [];
  for (const { name } of tables) {
    const [row] = await connection.all<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`);
    counts.push(`${name}=${row?.n}`);
  }
  const columns = await connection.all<{ name: string }>("SELECT name FROM pragma_table_info('orders')");
  return `applied [${applied.map((row) => row.name).join(' ')}], rows ${counts.join(' ')}, orders columns ${columns.map((c) => c.name).join(',')}`;
}

export async function folderBytes(folder: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}
