import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { withPg } from '../../src/engines/postgres/connection.ts';
import { withDatabase } from '../../src/engines/postgres/url.ts';
import { PG_SERVER, uniqueDatabaseName } from '../helpers/databases.ts';
import { parseReport, TempProject } from '../helpers/project.ts';

/**
 * Issue 24, "PostgreSQL: a database's own code runs as superuser". A non-superuser owns the
 * application's database and adds a CHECK constraint calling a plpgsql function that runs
 * `COPY … TO PROGRAM` (an OS command, as the server's account) whenever it runs with superuser
 * rights. Restoring the dump as `postgres` (the DATABASE_URL role) fires it on every row. Every
 * command that restores a dump must do it as a role without superuser rights: the marker file the
 * program would create never appears, and the command still does its job.
 */

const role = `mg_trap_owner_${randomBytes(4).toString('hex')}`;
const database = uniqueDatabaseName('mg_trap');
const url = withDatabase(PG_SERVER, database);
let markerDir: string;
let marker: string;
let project: TempProject;

const run = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: url } });

beforeAll(async () => {
  // Where the server's account (postgres) can create the marker: a folder open to it.
  markerDir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-trap-'));
  await withPg(PG_SERVER, async (connection) => {
    await connection.exec(`CREATE ROLE ${role} NOLOGIN`);
    await connection.exec(`CREATE DATABASE ${database} OWNER ${role}`);
  });
  await import('node:fs/promises').then((fs) => fs.chmod(markerDir, 0o777));
  marker = path.join(markerDir, 'ran-as-superuser');
  await withPg(url, (connection) =>
    connection.exec(`
      SET ROLE ${role};
      CREATE FUNCTION trap_check(id integer) RETURNS boolean LANGUAGE plpgsql AS $fn$
      BEGIN
        IF current_setting('is_superuser') = 'on' THEN
          EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch ${marker}');
        END IF;
        RETURN true;
      END
      $fn$;
      CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, CHECK (trap_check(id)));
      INSERT INTO items (name) VALUES ('alpha'), ('beta');
      RESET ROLE;
    `),
  );
  project = await TempProject.create();
  // A migration run as DATABASE_URL's superuser: its table and the history table are the superuser's.
  await project.writeMigration(
    '001_notes.ts',
    "export async function up({ context }) { await context.schema.createTable('notes', (t) => { t.increments('id'); t.string('body'); }); await context('notes').insert({ body: 'n1' }); }\n",
  );
  const migrated = await run(['migrate']);
  if (migrated.exitCode !== 0) throw new Error(`set-up migrate failed: ${migrated.all}`);
});

afterAll(async () => {
  await project?.cleanup();
  await withPg(PG_SERVER, async (connection) => {
    await connection.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    // Scratch databases a failed run left owned by the role would keep it from being dropped.
    const left = await connection.all<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = ?)',
      [role],
    );
    for (const { datname } of left) await connection.exec(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await connection.exec(`DROP ROLE IF EXISTS ${role}`);
  });
  await rm(markerDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(marker, { force: true });
});

const items = () => withPg(url, (connection) => connection.all<{ name: string }>('SELECT name FROM items ORDER BY id'));

/** The newest backup, taken (as a verified manual backup) if there is none yet. */
async function latestBackup(): Promise<string> {
  const listed = parseReport((await run(['backups', '--json'])).stdout) as { backups: { path: string }[] };
  if (listed.backups.length > 0) return listed.backups[0]!.path;
  const taken = await run(['backup', '--json']);
  expect(taken.exitCode, taken.all).toBe(0);
  await rm(marker, { force: true });
  return (parseReport(taken.stdout) as { backup: { path: string } }).backup.path;
}

describe('PostgreSQL restores run without superuser rights', () => {
  it('backup: the proof restores the dump as the database owner', async () => {
    const result = await run(['backup', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(existsSync(marker)).toBe(false);
    // Warned once that DATABASE_URL is a superuser, and who restores instead.
    expect(result.stderr.match(/WARNING DATABASE_URL connects as the superuser postgres/g)).toHaveLength(1);
    expect(result.stderr).toContain(`restored as ${role} (the database's owner)`);
  });

  it('verify', async () => {
    const backup = await latestBackup();
    const result = await run(['verify', backup, '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('drill', async () => {
    await latestBackup();
    const result = await run(['drill', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('restore-table: the export and the in-place restore of the rows', async () => {
    const backup = await latestBackup();
    const out = path.join(project.dir, 'items.sql');
    const exported = await run(['restore-table', backup, 'items', '--out', out, '--json']);
    expect(exported.exitCode, exported.all).toBe(0);
    expect(existsSync(marker), exported.all).toBe(false);
    // As the owner: an UPDATE as postgres would check the new rows, and so spring the trap itself.
    await withPg(url, (connection) => connection.exec(`SET ROLE ${role}; UPDATE items SET name = 'changed'; RESET ROLE`));
    const applied = await run(['restore-table', backup, 'items', '--apply', '--yes', '--json']);
    expect(applied.exitCode, applied.all).toBe(0);
    expect(existsSync(marker), applied.all).toBe(false);
    expect(await items()).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
  });

  it('restore: in place, as the owner, once it was handed what the restore recreates', async () => {
    const taken = await run(['backup']);
    expect(taken.exitCode, taken.all).toBe(0);
    await withPg(url, (connection) => connection.exec("DELETE FROM items WHERE name = 'beta'"));
    const result = await run(['restore', '--latest', '--yes', '--json']);
    expect(result.exitCode, result.all).toBe(0);
    expect(existsSync(marker), result.all).toBe(false);
    expect(await items()).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
    const notes = await withPg(url, (connection) => connection.all<{ body: string }>('SELECT body FROM notes'));
    expect(notes).toEqual([{ body: 'n1' }]);
  });

  it('the trap is real: restored as the superuser, it runs', async () => {
    // The control: the same dump restored by pg_restore as postgres does create the marker, so
    // the tests above would see it if any restore ran with superuser rights.
    const backup = await latestBackup();
    const scratch = uniqueDatabaseName('mg_trap_control');
    await withPg(PG_SERVER, (connection) => connection.exec(`CREATE DATABASE ${scratch}`));
    try {
      const { execa } = await import('execa');
      await execa('pg_restore', ['--no-owner', '--no-privileges', '--dbname', withDatabase(PG_SERVER, scratch), backup], { reject: false });
      expect(existsSync(marker)).toBe(true);
    } finally {
      await withPg(PG_SERVER, (connection) => connection.exec(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`));
    }
  });
});
