/**
 * The torture's own reads and writes of PostgreSQL (the oracle): plain `pg` clients, independent
 * of the code under test, which runs in its own processes. Named `migrate-guard-torture` in
 * `pg_stat_activity`, so what a case's processes left is never mistaken for the oracle.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the PostgreSQL torture runs on; its `postgres` database is the maintenance one. */
export const PG_SERVER = process.env.MIGRATE_GUARD_TORTURE_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function pgUrl(database: string): string {
  const url = new URL(PG_SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

export function pgDatabaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

export async function withPgClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'migrate-guard-torture' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function pgRows<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return withPgClient(url, async (client) => (await client.query(sql, params)).rows as T[]);
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A database name of this torture run: `mg_torture_<pid>_<label>_<random>`, within PostgreSQL's 63 bytes. */
export function tortureDatabaseName(label: string): string {
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
    .slice(0, 24);
  return `mg_torture_${process.pid}_${safe}_${randomBytes(3).toString('hex')}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `CREATE DATABASE name [TEMPLATE template]`. A template must have no session: the backend of a
 * CLI that just ended may still be leaving, so "being accessed by other users" is tried again.
 */
export async function createDatabase(name: string, template?: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await pgRows(PG_SERVER, `CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`);
      return;
    } catch (error) {
      if (attempt >= 50 || !/being accessed by other users/.test((error as Error).message)) throw error;
      await sleep(100);
    }
  }
}

export async function dropDatabase(name: string): Promise<void> {
  await pgRows(PG_SERVER, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}
