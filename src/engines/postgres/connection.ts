import type pg from 'pg';
import type { Reader } from '../contract.ts';

/** What every connection of ours says it is, so `pg_stat_activity` (and a refused run) can name it. */
export const APPLICATION_NAME = 'migrate-guard';

/** `?` placeholders (the contract's, as knex's) as PostgreSQL's `$1, $2, …`, string literals and quoted names left alone. */
export function numberedPlaceholders(sql: string): string {
  let index = 0;
  return sql.replace(/('(?:[^']|'')*'|"(?:[^"]|"")*")|\?/g, (match, quoted: string | undefined) => (quoted ? quoted : `$${++index}`));
}

/** One client connection: a Reader for checks and proofs. */
export class PgConnection implements Reader {
  private constructor(readonly client: pg.Client) {}

  static async open(url: string): Promise<PgConnection> {
    // Loaded on first use: a SQLite project never loads the pg driver.
    const { default: driver } = await import('pg');
    const client = new driver.Client({ connectionString: url, application_name: APPLICATION_NAME });
    await client.connect();
    return new PgConnection(client);
  }

  async all<T = Record<string, unknown>>(sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
    const result = await this.client.query(numberedPlaceholders(sql), [...bindings]);
    return result.rows as T[];
  }

  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }

  /** The server process serving this connection (what `pg_cancel_backend` takes). */
  async backendPid(): Promise<number> {
    const [row] = await this.all<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return row!.pid;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** Opens, works, closes: the connection never outlives the work, whatever it throws. */
export async function withPg<T>(url: string, work: (connection: PgConnection) => Promise<T>): Promise<T> {
  const connection = await PgConnection.open(url);
  try {
    return await work(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** An identifier quoted for PostgreSQL, so `x"; DROP TABLE y; --` stays a name. */
export function quotePg(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
