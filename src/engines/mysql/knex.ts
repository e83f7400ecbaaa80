import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import type { ChangedSet, KnexHandle, Reader } from '../contract.ts';
import { WriteSet } from '../write-set.ts';
import { withMy } from './connection.ts';
import type { MyServer } from './url.ts';

/**
 * The knex instance migrations see on MySQL/MariaDB: knex's own `mysql2` client (mysql2 loaded on
 * first connect), one connection (pool max 1), values read as the application's knex reads them.
 * A signal kills that connection from another (the running statement ends with it, and a new
 * one is refused), and every later statement through this knex fails before it is sent.
 */
export function openMyKnex(server: MyServer): KnexHandle {
  const threads = new Set<number>();
  let interrupted = false;
  const knex = knexFactory({
    client: interruptibleClient(() => interrupted),
    connection: {
      ...(server.socket === null ? { host: server.host, port: server.port } : { socketPath: server.socket }),
      user: server.user,
      ...(server.password === null ? {} : { password: server.password }),
      database: server.database,
      charset: 'utf8mb4',
    },
    pool: {
      min: 1,
      max: 1,
      afterCreate: (connection: { threadId?: number }, done: (error: Error | null, connection: unknown) => void) => {
        if (interrupted) return done(new Error('interrupted by a signal: no new connection'), connection);
        if (connection.threadId !== undefined) threads.add(connection.threadId);
        done(null, connection);
      },
    },
  });
  return {
    knex,
    watchWrites() {
      const written = new WriteSet();
      knex.on('query', (query: { sql: string }) => written.add(query.sql));
      return (reader) => changedSoFar(written.result(), reader);
    },
    interrupt() {
      interrupted = true;
      for (const id of threads) void withMy(server, (control) => control.exec(`KILL CONNECTION ${Number(id)}`)).catch(() => undefined);
    },
    destroy: () => knex.destroy(),
  };
}

/**
 * The statements say what the run wrote; rows a trigger or a cascading foreign key wrote are not
 * in them, so a written table with triggers, or one that cascading keys point at, makes the set
 * unknown (every table is then checked).
 */
async function changedSoFar(statements: ChangedSet, reader: Reader): Promise<ChangedSet> {
  if (statements.unknown !== null || statements.tables.length === 0) return statements;
  const marks = statements.tables.map(() => '?').join(', ');
  const [reach] = await reader.all<{ hidden: number | string }>(
    `SELECT (EXISTS (SELECT 1 FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND event_object_table IN (${marks}))
          OR EXISTS (SELECT 1 FROM information_schema.referential_constraints
                      WHERE constraint_schema = DATABASE() AND referenced_table_name IN (${marks})
                        AND (delete_rule IN ('CASCADE', 'SET NULL', 'SET DEFAULT') OR update_rule IN ('CASCADE', 'SET NULL', 'SET DEFAULT')))) AS hidden`,
    [...statements.tables, ...statements.tables],
  );
  if (Number(reach?.hidden) === 1)
    return { ...statements, unknown: 'a written table has triggers or cascading foreign keys, whose writes no statement names' };
  return statements;
}

/** knex's mysql2 client, except that once `interrupted()` no statement is sent any more. */
function interruptibleClient(interrupted: () => boolean): typeof Knex.Client {
  const Client = createRequire(import.meta.url)('knex/lib/dialects/mysql2/index.js') as new (config: Knex.Config) => {
    _query(connection: unknown, query: unknown): Promise<unknown>;
  };
  return class InterruptibleMysql2Client extends Client {
    override _query(connection: unknown, query: unknown): Promise<unknown> {
      if (interrupted()) return Promise.reject(new Error('interrupted by a signal: the migration stops here'));
      return super._query(connection, query);
    }
  } as unknown as typeof Knex.Client;
}
