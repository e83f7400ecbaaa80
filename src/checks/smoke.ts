import { messageOf } from '../errors.ts';
import type { CheckContext, CheckResult } from './contract.ts';

/** The default smoke queries: every table can be counted. */
export async function defaultSmokeQueries({ engine, reader }: Pick<CheckContext, 'engine' | 'reader'>): Promise<string[]> {
  return (await engine.listTables(reader)).map((table) => `SELECT COUNT(*) FROM ${engine.quote(table)}`);
}

/** The configured smoke queries, or a count of every table when none are configured (null). */
export async function smokeCheck(
  context: Pick<CheckContext, 'engine' | 'reader'>,
  configured: readonly string[] | null,
): Promise<CheckResult> {
  const queries = configured ?? (await defaultSmokeQueries(context));
  const failures: string[] = [];
  for (const query of queries) {
    try {
      await context.reader.all(query);
    } catch (error) {
      failures.push(`${query}: ${messageOf(error)}`);
    }
  }
  return failures.length === 0
    ? { name: 'smoke', ok: true, detail: `${queries.length} queries ran` }
    : { name: 'smoke', ok: false, detail: failures.slice(0, 5).join('; ') };
}
