import { GuardError } from '../../errors.ts';
import { redact } from '../../redact.ts';
import { quotePg, type PgConnection } from './connection.ts';

/**
 * Restoring a dump runs the database's own code: CHECK constraints, index expressions, triggers
 * and defaults call the functions it holds, as the role that restores. Restored as a superuser,
 * a function written by a non-superuser owner can run `COPY … TO PROGRAM` (an OS command as the
 * server's account) the moment its CHECK sees a row. So every restore of a dump, into a scratch
 * database (a backup's proof, verify, drill, restore-table's export, the dry run) or in place
 * (restore, restore-table), runs as a role without superuser rights: `postgres.proofRole` when
 * configured, else the database's owner (`pg_restore --role`, `SET ROLE`).
 */

export interface PgRoleSettings {
  /** `postgres.proofRole`: the role restores run as; null: the database's owner. */
  readonly proofRole: string | null;
  /** Where the one warning about a superuser `DATABASE_URL` goes (the CLI's output). */
  readonly warn: (message: string) => void;
}

/**
 * Process-wide, set once by the CLI from the config (a library caller may call it too): the engine
 * is built in many places that only know the database's location, and its restores are the only
 * ones that need this.
 */
let settings: PgRoleSettings = { proofRole: null, warn: () => undefined };
let warned = false;

export function configurePgRoles(next: Partial<PgRoleSettings>): void {
  settings = { ...settings, ...next };
}

export interface RestoreRoles {
  /** The role dumps are restored as (`--role`, `SET ROLE`); null: as the URL's own role, which is no superuser. */
  readonly role: string | null;
  /** Whether the URL's role is a superuser (so `role` null means: as a superuser). */
  readonly superuser: boolean;
}

/** Who the URL connects as and who owns its database; decides (and warns, once) who restores run as. */
export async function restoreRoles(connection: PgConnection, url: string): Promise<RestoreRoles> {
  const [row] = await connection.all<{ me: string; me_super: boolean; owner: string; owner_super: boolean }>(
    `SELECT current_user AS me, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS me_super, o.rolname AS owner, o.rolsuper AS owner_super
       FROM pg_database d JOIN pg_roles o ON o.oid = d.datdba WHERE d.datname = current_database()`,
  );
  if (!row) throw new Error('the database is not in pg_database');
  const configured = settings.proofRole;
  if (configured !== null) {
    const [role] = await connection.all<{ super: boolean }>('SELECT rolsuper AS super FROM pg_roles WHERE rolname = ?', [configured]);
    if (!role)
      throw new GuardError(
        'CONFIG_INVALID',
        `postgres.proofRole ${quotePg(configured)} does not exist on the server of ${redact(url)}: CREATE ROLE ${quotePg(configured)} NOLOGIN, or remove the setting`,
      );
    if (role.super)
      throw new GuardError(
        'CONFIG_INVALID',
        `postgres.proofRole ${quotePg(configured)} is a superuser: restores as it would run the database's functions with superuser rights; name a role without SUPERUSER`,
      );
  }
  if (!row.me_super) return { role: configured, superuser: false };
  const role = configured ?? (row.owner_super ? null : row.owner);
  if (!warned) {
    warned = true;
    settings.warn(
      role === null
        ? `DATABASE_URL connects as the superuser ${row.me} and the database is owned by the superuser ${row.owner}: dumps are proven and restored with superuser rights, so the database's functions run with them; set postgres.proofRole to a role without SUPERUSER (README: "Security model")`
        : `DATABASE_URL connects as the superuser ${row.me}: migrations run with its rights; dumps are proven and restored as ${role} (${configured === null ? "the database's owner" : 'postgres.proofRole'}), without them`,
    );
  }
  return { role, superuser: true };
}

/**
 * How an in-place restore runs as `role`: the statements that hand it the live schema's objects
 * first (run as the URL's superuser, in the restore's transaction: the restore drops and
 * recreates every one of them anyway, owned by the role that restores, as `--no-owner` does), or
 * why it cannot (an extension only a superuser can drop and create).
 */
export async function handOverTo(
  connection: PgConnection,
  role: string,
): Promise<{ readonly statements: string[] } | { readonly blocker: string }> {
  const extensions = await connection.all<{ name: string }>(
    `SELECT e.extname AS name FROM pg_extension e WHERE e.extname <> 'plpgsql' AND e.extowner <> (SELECT oid FROM pg_roles WHERE rolname = ?) ORDER BY 1`,
    [role],
  );
  if (extensions.length > 0) return { blocker: `extension(s) ${extensions.map((row) => row.name).join(', ')} belong to a superuser` };
  const rows = await connection.all<{ statement: string }>(
    `WITH r AS (SELECT oid FROM pg_roles WHERE rolname = ?)
     SELECT format('ALTER %s %s OWNER TO %I',
                   CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                   c.oid::regclass, ?::text) AS statement
       FROM pg_class c, r
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relowner <> r.oid
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
     UNION ALL
     SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, ?::text) FROM pg_proc p, r
      WHERE p.pronamespace = current_schema()::regnamespace AND p.proowner <> r.oid
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
     UNION ALL
     SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, ?::text) FROM pg_type t, r
      WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'c', 'd', 'r') AND t.typrelid = 0 AND t.typowner <> r.oid
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i'))`,
    [role, role, role, role],
  );
  return { statements: rows.map((row) => row.statement) };
}

/** Whether `role` owns `table` of the live schema (restore-table loads its rows as that role). */
export async function ownsTable(connection: PgConnection, role: string, table: string): Promise<boolean> {
  const [row] = await connection.all<{ owns: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ? AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = ?)) AS owns`,
    [table, role],
  );
  return row?.owns === true;
}

/** A warning about roles from the engine, through the CLI's output (see configurePgRoles). */
export function warnAboutRoles(message: string): void {
  settings.warn(message);
}
