import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { GuardError } from '../errors.ts';
import { loadScript } from './load-script.ts';

/**
 * What a migration declares it means to do, so a check that would stop it lets it through:
 *
 *   exports.review = { allow: ['rows-shrunk'] };                                  // any table
 *   exports.review = { allow: [{ rule: 'rows-shrunk', tables: ['sessions'] }] };  // these tables
 *   -- migrate-guard:allow rows-shrunk drop-column                                 // a .sql file: any table
 *
 * `allow` lists rule ids (a string: the rule everywhere; an object: the rule on some tables), so
 * other rules can join without a new shape. Unknown rule ids are kept, not refused: a rule another
 * version checks must not break this one.
 */
export interface MigrationReview {
  readonly allow: readonly AllowEntry[];
}

export interface AllowEntry {
  readonly rule: string;
  /** Null: every table. */
  readonly tables: readonly string[] | null;
}

/** The rule id of the rows check: a table has fewer rows after the run than before. */
export const ROWS_SHRUNK = 'rows-shrunk';

const ruleId = v.pipe(v.string(), v.minLength(1));
/** What `allow` lists, in a migration's `review` and in the config's `review.allow`. */
export const allowListSchema = v.array(
  v.union([ruleId, v.strictObject({ rule: ruleId, tables: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))) })]),
);
const reviewSchema = v.object({ allow: v.optional(allowListSchema, []) });

/** `-- migrate-guard:allow drop-column, rename-column` anywhere in a `.sql` migration. */
const SQL_ALLOW = /^[ \t]*--[ \t]*migrate-guard:allow[ \t]+(.+)$/gm;

/** The rule ids a `.sql` migration allows in its `-- migrate-guard:allow` comments (on every table). */
export function sqlReview(source: string): MigrationReview {
  const rules = [...source.matchAll(SQL_ALLOW)].flatMap((match) => match[1]!.split(/[\s,]+/).filter(Boolean));
  return { allow: rules.map((rule) => ({ rule, tables: null })) };
}

/** The `review` export of a migration script, or a `.sql` file's allow comments; none allows nothing. */
export async function readReview(name: string, file: string | null): Promise<MigrationReview> {
  if (file !== null && /\.sql$/i.test(file)) return sqlReview(await readFile(file, 'utf8'));
  if (file === null || !/\.[cm]?[jt]s$/.test(file)) return { allow: [] };
  const script = (await loadScript({ name, path: file })) as { readonly review?: unknown };
  return parseReview(name, script.review);
}

export function parseReview(name: string, review: unknown): MigrationReview {
  if (review === undefined) return { allow: [] };
  const parsed = v.safeParse(reviewSchema, review);
  if (!parsed.success) {
    throw new GuardError(
      'USAGE',
      `migration ${name} exports a review migrate-guard cannot read (${v.summarize(parsed.issues).replace(/\s+/g, ' ')}); write it as { allow: ['rows-shrunk'] } or { allow: [{ rule: 'rows-shrunk', tables: ['…'] }] }`,
    );
  }
  return { allow: allowEntries(parsed.output.allow) };
}

export function allowEntries(list: v.InferOutput<typeof allowListSchema>): AllowEntry[] {
  return list.map((entry) =>
    typeof entry === 'string' ? { rule: entry, tables: null } : { rule: entry.rule, tables: entry.tables ?? null },
  );
}

/** Whether `allow` lets `rule` through on `table` (a finding on no table: only an entry for every table). */
export function allows(allow: readonly AllowEntry[], rule: string, table: string | null): boolean {
  return allow.some((entry) => entry.rule === rule && (entry.tables === null || (table !== null && entry.tables.includes(table))));
}

/** Which migration, if any, allows `rule` on `table`. */
export function allowedBy(
  reviews: ReadonlyMap<string, MigrationReview>,
  ran: readonly string[],
  rule: string,
  table: string,
): string | null {
  for (const name of ran) {
    const review = reviews.get(name);
    if (review && allows(review.allow, rule, table)) return name;
  }
  return null;
}
