import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup } from '../../../src/backup/create.ts';
import { withPg } from '../../../src/engines/postgres/connection.ts';
import { postgresEngine } from '../../../src/engines/postgres/engine.ts';
import { poolerHint, transactionPoolingEvidence } from '../../../src/engines/postgres/pooler.ts';
import { directConnection } from '../../../src/engines/postgres/url.ts';
import { GuardError } from '../../../src/errors.ts';
import { PG_SERVER, postgresDatabase, type TestDatabase } from '../../helpers/databases.ts';
import { PGBOUNCER_BINARY, startPgBouncer, type PgBouncer, type PoolMode } from '../../helpers/pgbouncer.ts';

/** Advisory locks granted on `db` right now (the run lock is one). */
const advisoryLocks = (db: TestDatabase) =>
  withPg(PG_SERVER, async (connection) =>
    Number(
      (
        await connection.all<{ n: string }>(
          "SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND l.granted AND d.datname = ?",
          [db.name],
        )
      )[0]!.n,
    ),
  );

describe('DIRECT_URL beside a pooled DATABASE_URL', () => {
  it('takes the database from DATABASE_URL when DIRECT_URL names none', () => {
    expect(directConnection('postgres://app@pooler:6432/dms', 'postgres://app:pw@db:5432')).toBe('postgres://app:pw@db:5432/dms');
    expect(directConnection('postgres://app@pooler:6432/dms', ' postgres://app@db/dms?sslmode=require ')).toBe(
      'postgres://app@db/dms?sslmode=require',
    );
  });

  it('refuses a DIRECT_URL that names another database, or is not a postgres URL, without printing its password', () => {
    expect(() => directConnection('postgres://app@pooler:6432/dms', 'postgres://app:s3cret@db:5432/other')).toThrow(
      /DIRECT_URL postgres:\/\/app:\*\*\*@db:5432\/other names database other, DATABASE_URL .* names dms/,
    );
    expect(() => directConnection('postgres://app@pooler:6432/dms', 'postgres://app:s3cret@db:5432/other')).not.toThrow(/s3cret/);
    expect(() => directConnection('postgres://app@pooler:6432/dms', 'mysql://db/dms')).toThrow(/not a postgres:\/\/ URL/);
  });

  it('names the usual poolers by their host or port (a hint for the message, never the verdict)', () => {
    expect(poolerHint('postgres://u@aws-0-eu-central-1.pooler.supabase.com:6543/postgres')).toMatch(/Supabase/);
    expect(poolerHint('postgres://u@ep-cool-rain-123456-pooler.eu-central-1.aws.neon.tech/neondb')).toMatch(/Neon/);
    expect(poolerHint('postgres://u@app.proxy-abc123.eu-west-1.rds.amazonaws.com/dms')).toMatch(/RDS Proxy/);
    expect(poolerHint('postgres://u@db.internal:6432/dms')).toMatch(/PgBouncer/);
  });
});

describe.skipIf(PGBOUNCER_BINARY === null)('a real PgBouncer in front of the test server', () => {
  const bouncers = new Map<PoolMode, PgBouncer>();
  let db: TestDatabase;
  beforeAll(async () => {
    db = await postgresDatabase('mg_pooler');
    for (const mode of ['transaction', 'session', 'statement'] as const) bouncers.set(mode, await startPgBouncer(mode));
  });
  afterAll(async () => {
    for (const bouncer of bouncers.values()) await bouncer.stop();
    await db?.drop();
  });
  const through = (mode: PoolMode) => bouncers.get(mode)!.through(db.url);

  it('finds no pooling on the server itself nor through a session-mode pool', async () => {
    expect(await transactionPoolingEvidence(db.url)).toBeNull();
    expect(await transactionPoolingEvidence(through('session'))).toBeNull();
  });

  it('finds a transaction-mode pool, and a statement-mode one', async () => {
    expect(await transactionPoolingEvidence(through('transaction'))).toMatchObject({ mode: 'transaction' });
    expect(await transactionPoolingEvidence(through('statement'))).toMatchObject({ mode: 'statement' });
  });

  it('refuses to lock through a transaction-mode pool, naming the pooler and DIRECT_URL, and leaves no lock behind', async () => {
    const engine = postgresEngine(through('transaction'), { stateDir: '/nonexistent' });
    const refusal = await engine.lock('migrate').then(
      () => null,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(GuardError);
    expect(refusal).toMatchObject({ code: 'TRANSACTION_POOLER', exitCode: 1 });
    const message = (refusal as GuardError).message;
    expect(message).toContain(`DATABASE_URL ${through('transaction')}`);
    expect(message).toMatch(
      /transaction mode \(a pooler such as PgBouncer at 127\.0\.0\.1:\d+; the server behind it listens on port 5432\)/,
    );
    expect(message).toMatch(/set DIRECT_URL .*or point DATABASE_URL at a session-mode pool; nothing was changed$/);
    expect(message.split('\n')).toHaveLength(1);
    expect(await advisoryLocks(db)).toBe(0);
  });

  it('locks through DIRECT_URL, naming the database by DATABASE_URL, nothing through the pooler', async () => {
    const bouncer = bouncers.get('transaction')!;
    const pooled = through('transaction');
    const engine = postgresEngine(pooled, { stateDir: '/nonexistent', directUrl: PG_SERVER.replace(/\/[^/]*$/, '') });
    expect(engine.name).toBe(pooled);
    const before = await bouncer.transactions(db.name);
    const lock = await engine.lock('migrate');
    try {
      expect(await advisoryLocks(db)).toBe(1);
      // A second engine through the same direct URL finds the lock held.
      await expect(postgresEngine(pooled, { stateDir: '/nonexistent', directUrl: db.url }).lock('migrate')).rejects.toMatchObject({
        code: 'LOCK_HELD',
      });
    } finally {
      await lock.release();
    }
    expect(await advisoryLocks(db)).toBe(0);
    // Nothing went through the pooler.
    expect(await bouncer.transactions(db.name)).toBe(before);
  });

  // The check ahead of each step could miss a pooler (one that happened to hand sessions out as a
  // server would): `sessionProven` skips it, as if it had. The step's own failure then names the pooler.
  it('a backup whose dump went through a transaction-mode pool names the pooler, never "failed verification", and leaves no file', async () => {
    await db.exec(
      "CREATE TABLE accounts (id serial PRIMARY KEY, name text); INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 1000) g;",
    );
    const folder = await mkdtemp(path.join(tmpdir(), 'migrate-guard-pooler-'));
    try {
      const engine = postgresEngine(through('transaction'), { stateDir: folder, sessionProven: true });
      const refusal = await createBackup({ engine, applied: async () => [], backupDir: folder, kind: 'manual' }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refusal).toMatchObject({ code: 'TRANSACTION_POOLER', exitCode: 1 });
      expect((refusal as Error).message).toMatch(/transaction mode .*, seen when .*: set DIRECT_URL/);
      expect((refusal as Error).message).not.toMatch(/verification|nothing was changed/);
      expect((await readdir(folder, { recursive: true })).filter((file) => file.endsWith('.dump'))).toEqual([]);
    } finally {
      await rm(folder, { recursive: true, force: true });
      await db.exec('DROP TABLE accounts');
    }
  });

  it('refuses a DIRECT_URL that itself goes through a transaction-mode pool, saying so', async () => {
    const engine = postgresEngine(db.url, { stateDir: '/nonexistent', directUrl: through('transaction') });
    await expect(engine.lock('migrate')).rejects.toMatchObject({
      code: 'TRANSACTION_POOLER',
      message: expect.stringMatching(/^DIRECT_URL .*point DIRECT_URL .* at the server itself or at a session-mode pool/),
    });
  });
});
