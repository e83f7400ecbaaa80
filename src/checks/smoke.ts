import { messageOf } from '../errors.ts';
import { quoteIdentifier } from '../db.ts';
import type { CheckContext, CheckResult } from './contract.ts';

/** The default smoke queries: every table can be counted. */
export async function defaultSmokeQueries({ connection }: Pick<CheckContext, 'connection'>): Promise<string[]> {
  const tables = await connection.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  return tables.map((table) => `SELECT COUNT(*) FROM ${quoteIdentifier(table.name)}`);
}

export async function smokeQueries(context: Pick<CheckContext, 'connection'>, queries: readonly string[]): Promise<CheckResult> {
  const failures: string[] = [];
  for (const query of queries) {
    try {
      await context.connection.all(query);
    } catch (error) {
      failures.push(`${query}: ${messageOf(error)}`);
    }
  }
  return failures.length === 0
    ? { name: 'smoke', ok: true, detail: `${queries.length} queries ran` }
    : { name: 'smoke', ok: false, detail: failures.slice(0, 5).join('; ') };
}
