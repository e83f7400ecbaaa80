import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { withPg } from '../../src/engines/postgres/connection.ts';
import { freePort } from './pgbouncer.ts';

/**
 * A PostgreSQL cluster of the test's own whose WAL pgBackRest archives, as a team's database
 * host has one: `pg_createcluster` on a spare port, `archive_command` through
 * `pgbackrest archive-push` into a repository in a temp folder, `stanza-create`, a full backup.
 * The server's binaries and pgBackRest run as `postgres` (we may be root; they refuse root).
 * Made once per test file (a minute's work on a loaded machine), dropped with its folders after.
 */
export interface ArchivedCluster {
  readonly port: number;
  readonly stanza: string;
  /** The pgBackRest config file (its repository, log and lock folders are the cluster's own). */
  readonly config: string;
  /** What a CLI run needs for pgBackRest to find this cluster's repository (PGBACKREST_CONFIG, PGBACKREST_STANZA). */
  readonly env: Readonly<Record<string, string>>;
  /** A URL on this cluster (trust, user postgres). */
  url(database: string): string;
  createDatabase(prefix: string): Promise<string>;
  /** ALTER SYSTEM, then a reload (archive_command, archive_timeout; not archive_mode, which needs `restart`). */
  set(setting: string, value: string): Promise<void>;
  restart(): Promise<void>;
  /** Runs pgBackRest on this cluster's stanza as `postgres`. */
  pgbackrest(...args: string[]): Promise<string>;
  drop(): Promise<void>;
}

const MAJOR = 15;

/**
 * Why this machine cannot make one (null: it can): pgBackRest and Debian's cluster tools installed
 * (`apt-get install -y pgbackrest`), and root, since pg_createcluster writes /etc/postgresql.
 */
export const ARCHIVED_CLUSTER_MISSING: string | null = !existsSync('/usr/bin/pg_createcluster')
  ? 'pg_createcluster (postgresql-common) is not installed'
  : !['/usr/bin/pgbackrest', '/usr/local/bin/pgbackrest'].some((file) => existsSync(file))
    ? 'pgbackrest is not installed (apt-get install -y pgbackrest)'
    : userInfo().uid !== 0
      ? 'not root: pg_createcluster writes /etc/postgresql'
      : null;

const asPostgres = (command: string, args: readonly string[]) =>
  userInfo().uid === 0 ? execa('runuser', ['-u', 'postgres', '--', command, ...args]) : execa(command, [...args]);

export async function createArchivedCluster(prefix: string): Promise<ArchivedCluster> {
  if (ARCHIVED_CLUSTER_MISSING !== null) throw new Error(ARCHIVED_CLUSTER_MISSING);
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`.replace(/[^a-z0-9_]/gi, '_');
  const stanza = name;
  const dir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-archived-'));
  await chmod(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  const config = path.join(dir, 'pgbackrest.conf');
  const port = await freePort();
  await writeFile(
    config,
    [
      '[global]',
      `repo1-path=${path.join(dir, 'repo')}`,
      `log-path=${path.join(dir, 'log')}`,
      `lock-path=${path.join(dir, 'lock')}`,
      `spool-path=${path.join(dir, 'spool')}`,
      'log-level-console=warn',
      'log-level-file=off',
      'start-fast=y',
      'compress-type=none',
      '',
      `[${stanza}]`,
      `pg1-path=${dataDir}`,
      `pg1-port=${port}`,
      '',
    ].join('\n'),
  );
  await chmod(config, 0o644);
  if (userInfo().uid === 0) await execa('chown', ['-R', 'postgres:postgres', dir]);
  const archiveCommand = `pgbackrest --config=${config} --stanza=${stanza} archive-push %p`;
  await execa('pg_createcluster', [String(MAJOR), name, '-p', String(port), '-d', dataDir]);
  const confDir = `/etc/postgresql/${MAJOR}/${name}`;
  const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
  // Debian's postgresql.conf reads conf.d/ (pg_createcluster's -o does not quote values).
  await writeFile(
    path.join(confDir, 'conf.d', 'archiving.conf'),
    [
      'archive_mode = on',
      `archive_command = ${quote(archiveCommand)}`,
      'wal_level = replica',
      `listen_addresses = ${quote('127.0.0.1')}`,
      // A test cluster: losing it to a power cut costs nothing, and fsync is most of its start-up.
      'fsync = off',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(confDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
  const cluster: ArchivedCluster = {
    port,
    stanza,
    config,
    env: { PGBACKREST_CONFIG: config, PGBACKREST_STANZA: stanza },
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase(databasePrefix) {
      const database = `${databasePrefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
      await withPg(cluster.url('postgres'), (connection) => connection.exec(`CREATE DATABASE ${database}`));
      return database;
    },
    async set(setting, value) {
      await withPg(cluster.url('postgres'), async (connection) => {
        await connection.exec(`ALTER SYSTEM SET ${setting} = '${value.replaceAll("'", "''")}'`);
        await connection.exec('SELECT pg_reload_conf()');
      });
    },
    async restart() {
      await execa('pg_ctlcluster', ['--skip-systemctl-redirect', String(MAJOR), name, 'restart']);
    },
    async pgbackrest(...args) {
      return (await asPostgres('pgbackrest', [`--config=${config}`, `--stanza=${stanza}`, ...args])).stdout;
    },
    async drop() {
      await execa('pg_dropcluster', [String(MAJOR), name, '--stop'], { reject: false });
      await rm(dir, { recursive: true, force: true });
      // pg_dropcluster keeps the cluster's (empty) conf.d folder under /etc/postgresql.
      await rm(`/etc/postgresql/${MAJOR}/${name}`, { recursive: true, force: true });
    },
  };
  try {
    await execa('pg_ctlcluster', ['--skip-systemctl-redirect', String(MAJOR), name, 'start']);
    await cluster.pgbackrest('stanza-create');
    await cluster.pgbackrest('--type=full', 'backup');
    return cluster;
  } catch (error) {
    await cluster.drop();
    throw error;
  }
}
