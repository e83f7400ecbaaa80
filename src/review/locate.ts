import type { RuleId } from './rules.ts';

/** Words a line doing what a rule reports usually has, to choose between lines naming the same table. */
const HINTS: Readonly<Partial<Record<RuleId, RegExp>>> = {
  'drop-table': /drop/i,
  'drop-column': /drop/i,
  'rename-table': /rename/i,
  'rename-column': /rename/i,
  'index-not-concurrent': /index/i,
  'foreign-key-not-valid': /foreign|references|check/i,
  'unbounded-update': /update/i,
  'unbounded-delete': /delete|del\(|truncate/i,
  'column-type-change': /alter|type/i,
  'not-null-without-default': /not ?null/i,
};

/** Lines that only say what the review allows are never where a finding is. */
const ALLOW_LINE = /migrate-guard:allow|\breview\s*=|\ballow\s*:/;

/**
 * The line of a migration's source a finding points at, best effort: the first line naming its
 * column (else its table) that also reads like what the rule reports, else the first such line
 * after the first naming it, else that one, else the first line with the rule's word; line 1 when
 * nothing matches. The migration ran from
 * this source, but builder calls are not statements, so this is a search, not a mapping.
 */
export function locate(source: string, rule: RuleId, names: readonly (string | null)[]): number {
  const lines = source.split(/\r?\n/);
  const hint = HINTS[rule];
  const candidates = lines.map((text, index) => ({ text, line: index + 1 })).filter(({ text }) => !ALLOW_LINE.test(text));
  for (const name of names) {
    if (!name) continue;
    const named = new RegExp(`(^|[^\\w$])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([^\\w$]|$)`);
    const naming = candidates.filter(({ text }) => named.test(text));
    const hinted = hint ? naming.find(({ text }) => hint.test(text)) : undefined;
    if (hinted) return hinted.line;
    if (!naming[0]) continue;
    // A builder names the table once (`alterTable('orders', (t) => { t.index(…) })`): the first
    // line doing the rule's thing after it.
    const after = hint ? candidates.find(({ text, line }) => line >= naming[0]!.line && hint.test(text)) : undefined;
    return (after ?? naming[0]).line;
  }
  const hinted = hint ? candidates.find(({ text }) => hint.test(text) && !/^\s*(\/\/|--|\*)/.test(text)) : undefined;
  return hinted?.line ?? 1;
}
