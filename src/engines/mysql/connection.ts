import type { Connection, ConnectionOptions } from 'mysql2/promise';
import type { Reader } from '../contract.ts';
import type { MyServer } from './url.ts';

/**
 * How every connection of ours reads values: dates as the server's text (no time zone moved), big
 * integers and decimals as exact strings (a count is read with Number()).
 */
export function connectionOptions(server: MyServer, database: string | null = server.database): ConnectionOptions {
  return {
    ...(server.socket === null ? { host: server.host, port: server.port } : { socketPath: server.socket }),
    user: server.user,
    ...(server.password === null ? {} : { password: server.password }),
    ...(database === null ? {} : { database }),
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    charset: 'utf8mb4',
    connectAttributes: { program_name: 'migrate-guard' },
  };
}

/** One client connection: a Reader for checks and proofs. */
export class MyConnection implements Reader {
  private constructor(readonly connection: Connection) {}

  static async open(server: MyServer, database: string | null = server.database): Promise<MyConnection> {
    // Loaded on first use: a SQLite or PostgreSQL project never loads mysql2.
    const { createConnection } = await import('mysql2/promise');
    return new MyConnection(await createConnection(connectionOptions(server, database)));
  }

  /** The server's id of this connection (what KILL and IS_USED_LOCK name). */
  get threadId(): number {
    return this.connection.threadId;
  }

  async all<T = Record<string, unknown>>(sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
    const [rows] = await this.connection.query(sql, [...bindings]);
    return (Array.isArray(rows) ? rows : []) as T[];
  }

  async exec(sql: string): Promise<void> {
    await this.connection.query(sql);
  }

  async close(): Promise<void> {
    await this.connection.end().catch(() => this.connection.destroy());
  }
}

/** Opens, works, closes: the connection never outlives the work, whatever it throws. */
export async function withMy<T>(
  server: MyServer,
  work: (connection: MyConnection) => Promise<T>,
  database: string | null = server.database,
): Promise<T> {
  const connection = await MyConnection.open(server, database);
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}

/** An identifier quoted for MySQL, so a table called `` x`; DROP TABLE y; -- `` stays a name. */
export function quoteMy(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/**
 * A string literal that means the same whatever the server's sql_mode: a string with a backslash
 * or a NUL (which NO_BACKSLASH_ESCAPES reads differently) is written as hex bytes with its
 * character set, anything else with its quotes doubled.
 */
export function myString(text: string): string {
  if (/[\\\0]/.test(text)) return `_utf8mb4 X'${Buffer.from(text, 'utf8').toString('hex')}'`;
  return `'${text.replaceAll("'", "''")}'`;
}
