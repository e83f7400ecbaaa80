import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GuardError, messageOf } from '../../errors.ts';
import { pathExists } from '../../fs/paths.ts';
import type { Engine } from '../contract.ts';
import type { ArchivedRestorePoint, RestoredPoint, RestorePoint, RestorePoints } from '../restore-points.ts';
import { archivedPast } from './archiver.ts';
import { pgCommittedSince } from './commits.ts';
import { withPg, type PgConnection } from './connection.ts';

/** How often the archiver's view is read while a segment is awaited. */
const POLL_MS = 100;
/** How long a drill's restored server may take to reach its point and promote. */
const PROMOTE_TIMEOUT_MS = 10 * 60_000;

interface ArchiverRow {
  readonly archived_count: string;
  readonly last_archived_wal: string | null;
  readonly last_archived_time: Date | null;
  readonly failed_count: string;
  readonly last_failed_wal: string | null;
  readonly last_failed_time: Date | null;
}

/**
 * PostgreSQL's restore points (backups.method 'restore-point'): everything but the drill through
 * SQL on `url`, since migrate-guard usually runs on an application host, not the database host.
 * `name` is the database as messages name it (redacted), `database` its name on the server; `open`
 * makes an engine for a restored copy.
 */
export function pgRestorePoints(url: string, name: string, database: string, open: (url: string) => Engine): RestorePoints {
  const refuse = (check: string, fix: string) =>
    new GuardError(
      'PREFLIGHT_FAILED',
      `backups.method 'restore-point': ${check} on ${name}; ${fix} (or set backups.method to 'pg_dump'); nothing was changed`,
    );
  return {
    async preflight() {
      await withPg(url, async (connection) => {
        const [settings] = await connection.all<{ mode: string; recovery: boolean; point: boolean; switch: boolean }>(
          `SELECT current_setting('archive_mode') AS mode, pg_is_in_recovery() AS recovery,
                  has_function_privilege('pg_create_restore_point(text)', 'EXECUTE') AS point,
                  has_function_privilege('pg_switch_wal()', 'EXECUTE') AS switch`,
        );
        if (settings!.recovery) throw refuse('the server is a standby (in recovery)', 'run migrate-guard against the primary');
        if (settings!.mode === 'off')
          throw refuse(
            'archive_mode is off',
            "set archive_mode = on and an archive_command (pgBackRest: 'pgbackrest --stanza=<stanza> archive-push %p'), then restart the server",
          );
        const archiver = await readArchiver(connection);
        if (archiver.last_archived_time === null)
          throw refuse(
            'pg_stat_archiver shows no WAL segment archived yet',
            'check archive_command (SELECT pg_switch_wal(), then pg_stat_archiver.last_archived_wal should move)',
          );
        if (archiver.last_failed_time !== null && archiver.last_failed_time >= archiver.last_archived_time)
          throw refuse(
            `archiving is failing: pg_stat_archiver shows ${archiver.last_failed_wal ?? 'a segment'} failed at ${archiver.last_failed_time.toISOString()}, after the last success (${archiver.last_archived_wal ?? '?'} at ${archiver.last_archived_time.toISOString()})`,
            "fix archive_command (the server's log says why it fails) and wait for the next segment to archive",
          );
        const role = `the role ${await currentUser(connection)}`;
        if (!settings!.point)
          throw refuse(`${role} may not call pg_create_restore_point`, 'GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO it');
        if (!settings!.switch) throw refuse(`${role} may not call pg_switch_wal`, 'GRANT EXECUTE ON FUNCTION pg_switch_wal() TO it');
      });
    },

    async create(pointName, snapshot) {
      return withPg(url, async (connection) => {
        // After the facts the manifest records (read on the migrations' connection, the group's
        // transaction open): a row committed before `snapshot` is in both; one committed between
        // it and the point is in the point only, which a restored copy tells (committedBetween).
        const [created] = await connection.all<{ lsn: string; segment: string }>(
          'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS segment FROM pg_create_restore_point(?) AS lsn',
          [pointName],
        );
        const segment = created!.segment;
        // The segment holding the point is closed now, so the archiver takes it at once instead of
        // when it fills up or archive_timeout passes.
        await connection.exec('SELECT pg_switch_wal()');
        return {
          name: pointName,
          lsn: created!.lsn,
          timeline: Number.parseInt(segment.slice(0, 8), 16),
          segment,
          snapshot,
          createdAt: new Date().toISOString(),
        };
      });
    },

    async awaitArchived(point, timeoutMs, signal): Promise<ArchivedRestorePoint> {
      const deadline = performance.now() + timeoutMs;
      return withPg(url, async (connection) => {
        for (;;) {
          const archiver = await readArchiver(connection);
          if (archivedPast(archiver.last_archived_wal, point.segment)) {
            return {
              ...point,
              archivedAt: (archiver.last_archived_time ?? new Date()).toISOString(),
              archivedWal: archiver.last_archived_wal!,
            };
          }
          if (signal?.aborted) throw new GuardError('INTERRUPTED', 'interrupted while waiting for the restore point to be archived');
          if (performance.now() >= deadline) {
            const failing =
              archiver.last_failed_time !== null && archiver.last_failed_time.getTime() >= Date.parse(point.createdAt)
                ? `; archive_command failed on ${archiver.last_failed_wal ?? '?'} at ${archiver.last_failed_time.toISOString()} (the server's log says why)`
                : '';
            throw new GuardError(
              'BACKUP_FAILED',
              `the restore point ${point.name}'s WAL segment ${point.segment} was not archived within ${timeoutMs} ms (pg_stat_archiver: last archived ${archiver.last_archived_wal ?? 'none'})${failing}; check archive_command, or raise backups.archiveTimeoutMs`,
            );
          }
          await sleep(POLL_MS);
        }
      });
    },

    async restore(point, command, folder) {
      const major = await withPg(url, async (connection) =>
        Math.floor(Number((await connection.all<{ n: string }>("SELECT current_setting('server_version_num') AS n"))[0]!.n) / 10_000),
      );
      return restoreIntoScratch(point, command, folder, major, database, open);
    },
  };
}

async function readArchiver(connection: PgConnection): Promise<ArchiverRow> {
  // Each read its own transaction: statistics are cached for the length of one.
  const [row] = await connection.all<ArchiverRow>(
    'SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time FROM pg_stat_archiver',
  );
  return row!;
}

async function currentUser(connection: PgConnection): Promise<string> {
  return (await connection.all<{ name: string }>('SELECT current_user AS name'))[0]!.name;
}

/** A shell word: the command template's placeholders are filled in quoted. */
const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** The server's account (Debian's `postgres`): a data directory must be its, and its binaries refuse to run as root. */
const SERVER_USER = 'postgres';
const asRoot = () => process.getuid?.() === 0;

/** A command as the server's user: through runuser when we are root, as we are otherwise. */
function asServerUser(file: string, args: readonly string[]): [string, string[]] {
  return asRoot() ? ['runuser', ['-u', SERVER_USER, '--', file, ...args]] : [file, [...args]];
}

async function serverIds(): Promise<{ uid: number; gid: number } | null> {
  if (!asRoot()) return null;
  const { execa } = await import('execa');
  const [uid, gid] = await Promise.all([execa('id', ['-u', SERVER_USER]), execa('id', ['-g', SERVER_USER])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function pgCtlOf(major: number): Promise<string> {
  const debian = `/usr/lib/postgresql/${major}/bin/pg_ctl`;
  return (await pathExists(debian)) ? debian : 'pg_ctl';
}

/**
 * The drill's restore: `command` fills a fresh data directory, a server of the same major version
 * starts on it (a config of its own: no TCP, a socket in `folder`, archiving off so the copy never
 * writes into the real archive after its promotion), and is waited for until promoted.
 */
async function restoreIntoScratch(
  point: RestorePoint,
  command: string,
  folder: string,
  major: number,
  database: string,
  open: (url: string) => Engine,
): Promise<RestoredPoint> {
  const { execa } = await import('execa');
  const ids = await serverIds();
  const own = async (file: string) => {
    if (ids) await chown(file, ids.uid, ids.gid);
  };
  await own(folder);
  const dataDir = path.join(folder, 'data');
  await mkdir(dataDir, { mode: 0o700 });
  await own(dataDir);
  const filled = command.replaceAll('{point}', shellQuote(point.name)).replaceAll('{dataDir}', shellQuote(dataDir));
  const [shell, shellArgs] = asServerUser('sh', ['-c', filled]);
  const restored = await execa(shell, shellArgs, { reject: false, all: true, stdin: 'ignore' });
  if (restored.exitCode !== 0)
    throw new Error(`the restore command failed (exit ${restored.exitCode}): ${filled}: ${(restored.all ?? '').trim().slice(-2000)}`);
  const files = {
    config: path.join(folder, 'postgresql.conf'),
    hba: path.join(folder, 'pg_hba.conf'),
    ident: path.join(folder, 'pg_ident.conf'),
  };
  await writeFile(files.config, '# migrate-guard drill: everything on the command line\n');
  await writeFile(files.hba, 'local all all trust\n');
  await writeFile(files.ident, '');
  for (const file of Object.values(files)) await own(file);
  const port = await sparePort();
  const log = path.join(folder, 'server.log');
  const pgCtl = await pgCtlOf(major);
  const options = [
    `-c config_file=${files.config}`,
    `-c hba_file=${files.hba}`,
    `-c ident_file=${files.ident}`,
    `-c port=${port}`,
    "-c listen_addresses=''",
    `-c unix_socket_directories=${folder}`,
    '-c archive_mode=off',
  ].join(' ');
  const stop = async () => {
    const [file, args] = asServerUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    await execa(file, args, { reject: false, stdin: 'ignore' });
    await rm(dataDir, { recursive: true, force: true });
  };
  const [file, args] = asServerUser(pgCtl, [
    '-D',
    dataDir,
    '-l',
    log,
    '-w',
    '-t',
    String(PROMOTE_TIMEOUT_MS / 1000),
    '-o',
    options,
    'start',
  ]);
  const started = await execa(file, args, { reject: false, all: true, stdin: 'ignore' });
  const tail = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' | ');
  if (started.exitCode !== 0) {
    await stop();
    throw new Error(`the restored copy did not start: ${(started.all ?? '').trim()} ${await tail()}`);
  }
  const urlFor = (db: string) =>
    `postgres://${SERVER_USER}@localhost/${encodeURIComponent(db)}?host=${encodeURIComponent(folder)}&port=${port}`;
  // Consistent is not yet at the point: wait for the promotion (recovery_target_action=promote).
  const deadline = performance.now() + PROMOTE_TIMEOUT_MS;
  for (;;) {
    const recovering = await withPg(urlFor('postgres'), async (connection) =>
      Boolean((await connection.all<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r),
    ).catch((error: unknown) => messageOf(error));
    if (recovering === false) break;
    if (typeof recovering === 'string' && !(await isRunning(pgCtl, dataDir))) {
      const why = await tail();
      await stop();
      throw new Error(`the restored copy stopped before reaching ${point.name}: ${why}`);
    }
    if (performance.now() >= deadline) {
      await stop();
      throw new Error(`the restored copy did not reach ${point.name} within ${PROMOTE_TIMEOUT_MS / 1000}s: ${await tail()}`);
    }
    await sleep(POLL_MS);
  }
  return {
    engine: open(urlFor(database)),
    // The same question as a group's rollback proof asks, of the mark the point was taken after.
    committedBetween: (reader) => pgCommittedSince(reader, point.snapshot),
    drop: stop,
  };
}

async function isRunning(pgCtl: string, dataDir: string): Promise<boolean> {
  const { execa } = await import('execa');
  const [file, args] = asServerUser(pgCtl, ['-D', dataDir, 'status']);
  return (await execa(file, args, { reject: false, stdin: 'ignore' })).exitCode === 0;
}
