import path from 'node:path';
import type { GuardError } from '../../errors.ts';
import { redact } from '../../redact.ts';
import type { Engine, ScratchDatabase } from '../contract.ts';
import { quotePg, withPg } from './connection.ts';
import { requireServerSession, transactionPoolerError, transactionPoolingEvidence, type UrlSource } from './pooler.ts';
import { restoreRoles, type RestoreRoles } from './roles.ts';
import { scratchDatabaseName, sweepScratchDatabases } from './scratch.ts';
import { databaseOf, directConnection, withDatabase } from './url.ts';

/** The client tools, loaded on first use (with execa): reading and locking need neither. */
export const tools = () => import('./dump.ts');

/** The maintenance database CREATE/DROP DATABASE run from. */
const MAINTENANCE = 'postgres';

/** A scratch database with the URL its dumps are restored through. */
export type PgScratch = ScratchDatabase & { readonly url: string };

export interface PgEngineOptions {
  readonly stateDir: string;
  readonly directUrl?: string | null | undefined;
  /** A scratch database of an engine that already proved its URL gives a server session. */
  readonly sessionProven?: boolean;
}

/**
 * What the parts of one PostgreSQL engine share: where it connects, the once-per-engine checks
 * (a server session, the restore role) and the scratch databases its proofs restore into.
 */
export interface PgContext {
  /** The database's own URL: finds and names it. */
  readonly databaseUrl: string;
  /** Where every connection goes (the direct URL when the database's goes through a pooler). */
  readonly url: string;
  readonly source: UrlSource;
  /** The URL redacted, as messages name the database. */
  readonly name: string;
  readonly database: string;
  readonly stateDir: string;
  /** The maintenance database's URL, where CREATE/DROP DATABASE run. */
  readonly maintenance: string;
  /** Refused (TRANSACTION_POOLER) before anything when `url` is a pooler in transaction mode; a failed check is tried again next time. */
  requireSession(): Promise<void>;
  /** Who dumps are restored as (see roles.ts), asked once per engine. */
  roles(): Promise<RestoreRoles>;
  /**
   * A step that needs a server session failed, or its copy came out wrong. When the URL turns out
   * to give no session of its own after all (the check before the step can miss a pooler that
   * happened to hand sessions out as a server would), that is the error, with its fix, never "the
   * backup failed verification". Probed up to three times: only a failure pays for it.
   */
  poolerBehind(step: string): Promise<GuardError | null>;
  /**
   * An empty database on the same server, dropped (its sessions ended) when done; owned by `owner`
   * when given, the role dumps are restored into it as (its public schema is then theirs to fill).
   */
  scratchDatabase(owner?: string | null): Promise<PgScratch>;
  /** A dump restored into a scratch database for `work`, then dropped whatever happens. */
  withRestoredDump<T>(
    dump: string,
    signal: AbortSignal | undefined,
    work: (scratch: PgScratch, restored: { ok: boolean; detail: string }) => Promise<T>,
  ): Promise<T>;
}

/** The context of the engine for `databaseUrl`; `engineAt` builds the engine of a scratch database. */
export function pgContext(
  databaseUrl: string,
  options: PgEngineOptions,
  engineAt: (url: string, options: PgEngineOptions) => Engine,
): PgContext {
  const url = options.directUrl ? directConnection(databaseUrl, options.directUrl) : databaseUrl;
  const source: UrlSource = options.directUrl ? 'DIRECT_URL' : 'DATABASE_URL';
  const stateDir = path.resolve(options.stateDir);
  const maintenance = withDatabase(url, MAINTENANCE);
  let sessionProven: Promise<void> | null = options.sessionProven ? Promise.resolve() : null;
  let rolesOnce: Promise<RestoreRoles> | null = null;

  const context: PgContext = {
    databaseUrl,
    url,
    source,
    name: redact(databaseUrl),
    database: databaseOf(databaseUrl),
    stateDir,
    maintenance,
    requireSession() {
      sessionProven ??= requireServerSession(url, source).catch((error: unknown) => {
        sessionProven = null;
        throw error;
      });
      return sessionProven;
    },
    roles() {
      rolesOnce ??= withPg(url, (connection) => restoreRoles(connection, url));
      rolesOnce.catch(() => {
        rolesOnce = null;
      });
      return rolesOnce;
    },
    async poolerBehind(step) {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const evidence = await transactionPoolingEvidence(url).catch(() => null);
        if (evidence) return transactionPoolerError(url, source, `${evidence.detail}, seen ${step}`, evidence.mode, false);
      }
      return null;
    },
    async scratchDatabase(owner = null) {
      await context.requireSession();
      const scratchName = scratchDatabaseName();
      await withPg(maintenance, async (connection) => {
        await sweepScratchDatabases(connection);
        await connection.exec(`CREATE DATABASE ${quotePg(scratchName)}${owner === null ? '' : ` OWNER ${quotePg(owner)}`}`);
      });
      const scratchUrl = withDatabase(url, scratchName);
      return {
        url: scratchUrl,
        engine: engineAt(scratchUrl, { stateDir, sessionProven: true }),
        drop: () => withPg(maintenance, (connection) => connection.exec(`DROP DATABASE IF EXISTS ${quotePg(scratchName)} WITH (FORCE)`)),
      };
    },
    async withRestoredDump(dump, signal, work) {
      const { restoreIntoEmpty } = await tools();
      const { role } = await context.roles();
      const scratch = await context.scratchDatabase(role);
      try {
        const restored = await restoreIntoEmpty(scratch.url, dump, { role, ...(signal ? { signal } : {}) });
        if (!restored.ok && !signal?.aborted) {
          const pooled = await context.poolerBehind('when pg_restore into a scratch database failed');
          if (pooled) throw pooled;
        }
        return await work(scratch, restored);
      } finally {
        await scratch.drop().catch(() => undefined);
      }
    },
  };
  return context;
}
