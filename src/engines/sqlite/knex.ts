import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import type sqlite3 from 'sqlite3';
import type { KnexHandle } from '../contract.ts';
import { WriteSet } from '../write-set.ts';
import { sqliteStatements } from './write-set.ts';

/**
 * The knex instance migrations see. Foreign-key enforcement stays at SQLite's default (off), as
 * with knex's own migrator: knex rebuilds tables on `alterTable`, and with enforcement on, the
 * DROP of a referenced table would fire ON DELETE CASCADE. `PRAGMA foreign_key_check` after the
 * run is what guards the relations.
 */
export function openKnex(file: string): KnexHandle {
  // Every raw connection the pool opened, so a signal can interrupt the running statement.
  const connections = new Set<sqlite3.Database>();
  const watchers = new Set<(sql: string) => void>();
  const knex = knexFactory({
    client: immediateClient(),
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (connection: sqlite3.Database, done: (error: Error | null, connection: unknown) => void) => {
        connections.add(connection);
        for (const watcher of watchers) connection.on('trace', watcher);
        connection.configure('busyTimeout', 10_000);
        done(null, connection);
      },
    },
  });
  return {
    knex,
    watchWrites() {
      const written = new WriteSet(sqliteStatements);
      // node-sqlite3 hands trace lines to JavaScript through a queue of their own, which can run
      // behind the statements' results: the set is read only once a marker statement, run last on
      // the same connection, has come through it (so everything before it has too).
      let flushed: { marker: string; arrived: () => void } | null = null;
      const listener = (sql: string) => {
        if (flushed !== null && sql.includes(flushed.marker)) flushed.arrived();
        else written.add(sql);
      };
      // Every connection the pool holds now or opens later (it holds one: max 1).
      for (const connection of connections) connection.on('trace', listener);
      watchers.add(listener);
      return async (reader) => {
        const marker = `migrate-guard flush ${randomUUID()}`;
        const arrived = new Promise<void>((resolve) => {
          flushed = { marker, arrived: resolve };
        });
        await reader.all(`SELECT '${marker}'`);
        // Seconds, not milliseconds, would be a bug; without the marker the set cannot be trusted.
        const timeout = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 10_000).unref());
        if ((await Promise.race([arrived, timeout])) === 'late') {
          return { tables: [], rowsChanged: [], unknown: "SQLite's trace of the run did not come through in time" };
        }
        return written.result();
      };
    },
    // `query_only`, queued behind the interrupted statement on the same connection, makes the
    // migration's next write fail, so it stops between statements instead of finishing a long
    // data migration the run is about to undo anyway.
    interrupt() {
      for (const connection of connections) {
        connection.interrupt();
        connection.exec('PRAGMA query_only = ON', () => undefined);
      }
    },
    destroy: () => knex.destroy(),
  };
}

/**
 * knex's SQLite client, but its transactions begin with `BEGIN IMMEDIATE`: the write lock is
 * taken (waiting the busy timeout for an application's write to finish) before the first read.
 * knex's plain `BEGIN` defers it to the first write, and a transaction that read first cannot take
 * it once another connection committed since (SQLITE_BUSY at once, whatever the busy timeout): a
 * group run reads the database's facts first, so beside a writing application it would fail every
 * time. Savepoints (nested transactions) are unchanged. knex takes a client class as `client`.
 */
function immediateClient(): typeof Knex.Client {
  const require = createRequire(import.meta.url);
  const Client: typeof Knex.Client = require('knex/lib/dialects/sqlite3/index.js');
  const Transaction: new (...args: unknown[]) => {
    query(conn: unknown, sql: string): unknown;
  } = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js');
  class ImmediateTransaction extends Transaction {
    begin(conn: unknown) {
      return this.query(conn, 'BEGIN IMMEDIATE;');
    }
  }
  return class ImmediateClient extends Client {
    override transaction(...args: unknown[]) {
      return new ImmediateTransaction(this, ...args) as unknown as Knex.Transaction;
    }
  } as typeof Knex.Client;
}
