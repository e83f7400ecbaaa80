import { GuardError } from '../../errors.ts';
import { writeStreamAtomic } from '../../fs/atomic.ts';
import type { ForeignKeyViolation } from '../contract.ts';
import type { PgConnection } from './connection.ts';
import { quotePg, withPg } from './connection.ts';
import { tools, type PgContext } from './context.ts';
import { ownsTable, warnAboutRoles } from './roles.ts';
import { pgColumns, pgForeignKeyViolations } from './schema.ts';

/** A table's rows from a dump as reviewable SQL in `out`: the dump restored into a scratch database, read through a cursor. */
export async function exportPgTable(
  context: PgContext,
  snapshot: string,
  table: string,
  out: string,
  header: readonly string[],
): Promise<number> {
  return context.withRestoredDump(snapshot, undefined, async (scratch, restored) => {
    if (!restored.ok) throw new GuardError('BACKUP_INVALID', `${snapshot} does not restore: ${restored.detail}`);
    return withPg(scratch.url, (connection) => exportRows(connection, table, out, header));
  });
}

/** Replaces a table's rows with a dump's in one transaction; rolled back on broken foreign keys unless forced. */
export async function replacePgTable(
  context: PgContext,
  snapshot: string,
  table: string,
  force: boolean,
): Promise<{ readonly rows: number; readonly violations: readonly ForeignKeyViolation[]; readonly committed: boolean }> {
  await context.requireSession();
  const { runDumpAsOneTransaction } = await tools();
  // The backup's rows of one table, in one transaction with the DELETE of the live ones. The
  // foreign-key triggers are off meanwhile (PostgreSQL would refuse the DELETE of rows the
  // same transaction puts back; this needs a superuser, or the SET privilege on
  // session_replication_role); at the end every key from or to the table is checked, and a
  // broken one rolls it all back unless forced.
  const { role } = await context.roles();
  const { keys, owner } = await withPg(context.url, async (connection) => ({
    keys: await keysAround(connection, table),
    owner: role !== null && (await ownsTable(connection, role, table)),
  }));
  // The rows are loaded (their CHECKs run) as the table's owner when that is the restore role;
  // session_replication_role is set before, as the URL's role.
  if (role !== null && !owner)
    warnAboutRoles(`restoring the rows of ${table} with superuser rights, not as ${role}: ${role} does not own ${table}`);
  const asRole = owner && role !== null ? [`SET ROLE ${quotePg(role)}`] : [];
  const check = keys.map(
    (key) =>
      `IF EXISTS (${key.orphans}) THEN RAISE EXCEPTION 'migrate-guard: broken foreign key: % references a missing % row', ${pgLiteral(key.child)}, ${pgLiteral(key.parent)}; END IF;`,
  );
  // The dump's SQL empties search_path for its session; the check names tables as we do.
  const after = [
    ...(asRole.length > 0 ? ['RESET ROLE'] : []),
    'RESET search_path',
    'SET session_replication_role = DEFAULT',
    ...(force || check.length === 0 ? [] : [`DO $check$ BEGIN ${check.join(' ')} END $check$`]),
  ];
  const before = ['SET session_replication_role = replica', ...asRole, `DELETE FROM ${quotePg(table)}`];
  const result = await runDumpAsOneTransaction(context.url, snapshot, ['--data-only', '--table', table], { before, after });
  if (!result.ok) {
    const broken = /migrate-guard: broken foreign key: (.+) references a missing (.+) row/.exec(result.detail);
    if (!broken)
      throw (
        (await context.poolerBehind('when the restore of a table failed')) ??
        new Error(`restoring the rows of ${table} failed and was rolled back: ${result.detail}`)
      );
    return { rows: 0, violations: [{ table: broken[1]!, row: null, parent: broken[2]! }], committed: false };
  }
  return withPg(context.url, async (connection) => ({
    rows: Number((await connection.all<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quotePg(table)}`))[0]?.n ?? 0),
    violations: await pgForeignKeyViolations(connection, [...new Set(keys.map((key) => key.child))]),
    committed: true,
  }));
}

/** Every foreign key from or to `table`, with the query that finds the rows it would leave pointing nowhere. */
async function keysAround(connection: PgConnection, table: string): Promise<{ child: string; parent: string; orphans: string }[]> {
  const keys = await connection.all<{ child: string; parent: string; definition: string }>(
    `SELECT c.relname AS child, p.relname AS parent, pg_get_constraintdef(k.oid) AS definition
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
      WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace AND (c.relname = ? OR p.relname = ?)`,
    [table, table],
  );
  return keys.flatMap((key) => {
    const match = /FOREIGN KEY \((.+?)\) REFERENCES (.+?)\((.+?)\)/.exec(key.definition);
    if (!match) return [];
    const childColumns = match[1]!.split(',').map((column) => column.trim());
    const parentColumns = match[3]!.split(',').map((column) => column.trim());
    const joined = childColumns.map((column, index) => `c.${column} = p.${parentColumns[index]}`).join(' AND ');
    const notNull = childColumns.map((column) => `c.${column} IS NOT NULL`).join(' AND ');
    return [
      {
        child: key.child,
        parent: key.parent,
        orphans: `SELECT 1 FROM ${quotePg(key.child)} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${match[2]} p WHERE ${joined})`,
      },
    ];
  });
}

/** A table's rows as reviewable INSERTs, read through a cursor (memory stays flat). */
async function exportRows(connection: PgConnection, table: string, out: string, header: readonly string[]): Promise<number> {
  const columns = await pgColumns(connection, table);
  if (columns.length === 0) throw new GuardError('USAGE', `no table ${JSON.stringify(table)} in the backup`);
  const list = columns.map(quotePg).join(', ');
  let rows = 0;
  await connection.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await connection.exec(`DECLARE rows_out NO SCROLL CURSOR FOR SELECT ${list} FROM ${quotePg(table)} ORDER BY ctid`);
    await writeStreamAtomic(out, async (write) => {
      for (const line of header) await write(`-- ${line}\n`);
      await write('BEGIN;\n');
      for (;;) {
        const batch = await connection.all<Record<string, unknown>>('FETCH 1000 FROM rows_out');
        if (batch.length === 0) break;
        for (const row of batch) {
          rows += 1;
          await write(`INSERT INTO ${quotePg(table)} (${list}) VALUES (${columns.map((column) => pgLiteral(row[column])).join(', ')});\n`);
        }
      }
      await write('COMMIT;\n');
    });
  } finally {
    await connection.exec('ROLLBACK').catch(() => undefined);
  }
  return rows;
}

/** A SQL literal for a value the pg driver gave back. */
export function pgLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'::bytea`;
  if (value instanceof Date) return `'${value.toISOString()}'`;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}
