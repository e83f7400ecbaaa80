import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PgConnection } from '../../src/engines/postgres/connection.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { createItems } from '../helpers/migrations.ts';
import { TempProject } from '../helpers/project.ts';

/**
 * Issue 24, smaller PostgreSQL findings: a `?password=` in DATABASE_URL reached pg_dump's command
 * line (readable by every local account in `ps`), and the pre-restore dump was 0644 while pg_dump
 * wrote it. Both are observed while pg_dump runs: a session of the test holds a lock pg_dump must
 * wait for, so the process (and its file) stay there until the test has looked.
 */

let project: TempProject;
let db: TestDatabase;
let holder: PgConnection | null = null;
const secret = `s3cret${randomBytes(6).toString('hex')}`;
const url = () => `${db.url}?password=${secret}&application_name=mg-secrets`;
const run = (args: readonly string[]) => project.run(args, { env: { DATABASE_URL: url() } });

beforeEach(async () => {
  db = await postgresDatabase('mg_secrets');
  project = await TempProject.create();
  await project.writeMigration('001_items.ts', createItems);
  const migrated = await run(['migrate']);
  if (migrated.exitCode !== 0) throw new Error(`set-up migrate failed: ${migrated.all}`);
  // Outside the schema a restore replaces (and locks): pg_dump dumps it, and waits for its lock.
  await db.exec('CREATE SCHEMA side; CREATE TABLE side.t (id integer)');
});
afterEach(async () => {
  await holder?.close().catch(() => undefined);
  holder = null;
  await project.cleanup();
  await db.drop();
});

/** Blocks every pg_dump of the database until `release`: ACCESS EXCLUSIVE on a table it must read. */
async function holdDumps(): Promise<() => Promise<void>> {
  holder = await PgConnection.open(db.url);
  await holder.exec('BEGIN; LOCK TABLE side.t IN ACCESS EXCLUSIVE MODE');
  const connection = holder;
  return async () => {
    await connection.exec('COMMIT');
  };
}

/** Every process's command line, NUL-separated arguments joined by spaces. */
async function commandLines(): Promise<string[]> {
  const lines: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const text = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (text !== '') lines.push(text.replaceAll('\0', ' '));
  }
  return lines;
}

/** Polls until `found` gives something (no timing assumption: pg_dump waits for the test's lock). */
async function waitFor<T>(what: string, found: () => Promise<T | null>): Promise<T> {
  for (let attempt = 0; attempt < 3000; attempt += 1) {
    const value = await found();
    if (value !== null) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('PostgreSQL secrets and dump files', () => {
  it('a ?password= in DATABASE_URL never reaches a command line', async () => {
    const release = await holdDumps();
    const backup = run(['backup', '--json']);
    try {
      const dumping = await waitFor(
        'pg_dump of the database',
        async () => (await commandLines()).find((line) => /pg_dump/.test(line) && line.includes(db.name)) ?? null,
      );
      const leaking = (await commandLines()).filter((line) => line.includes(secret));
      expect(leaking).toEqual([]);
      expect(dumping).not.toContain('password');
    } finally {
      await release();
    }
    const result = await backup;
    expect(result.exitCode, result.all).toBe(0);
  });

  it('the pre-restore dump is private (0600) while pg_dump writes it', async () => {
    const taken = await run(['backup']);
    expect(taken.exitCode, taken.all).toBe(0);
    const release = await holdDumps();
    const restore = run(['restore', '--latest', '--yes', '--json']);
    try {
      const file = await waitFor('the pre-restore dump', async () => {
        const names = await readdir(project.backups).catch((): string[] => []);
        const name = names.find((entry) => entry.includes('pre-restore') && !entry.endsWith('.manifest.json'));
        return name === undefined ? null : path.join(project.backups, name);
      });
      // pg_dump is still waiting for the lock: this is the mode the file is written with.
      expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    } finally {
      await release();
    }
    const result = await restore;
    expect(result.exitCode, result.all).toBe(0);
  });
});
