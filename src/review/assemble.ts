import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { allows, readReview, type AllowEntry } from '../migrator/review.ts';
import type { Detected, Finding } from './findings.ts';
import { locate } from './locate.ts';
import { ruleOf } from './rules.ts';

export interface ReviewedMigration {
  readonly name: string;
  /** Its file (absolute); null when unknown. */
  readonly file: string | null;
  readonly detected: readonly Detected[];
}

/**
 * The findings of a rehearsal with their place (file relative to `cwd`, line) and whether the
 * migration's own review or the project's config allows them. A finding allowed stays in the
 * report, marked, so a reviewer still sees it; it does not count for `--fail-on`.
 */
export async function assembleFindings(
  migrations: readonly ReviewedMigration[],
  projectAllow: readonly AllowEntry[],
  cwd: string,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const migration of migrations) {
    if (migration.detected.length === 0) continue;
    const review = await readReview(migration.name, migration.file);
    const source = migration.file === null ? null : await readFile(migration.file, 'utf8').catch(() => null);
    const file = migration.file === null ? null : relativeFile(migration.file, cwd);
    for (const detected of migration.detected) {
      const allowedBy = allows(review.allow, detected.rule, detected.table)
        ? 'migration'
        : allows(projectAllow, detected.rule, detected.table)
          ? 'config'
          : null;
      findings.push({
        ...detected,
        severity: ruleOf(detected.rule).severity,
        migration: migration.name,
        file,
        line: source === null ? null : locate(source, detected.rule, [detected.column, detected.table]),
        allowedBy,
      });
    }
  }
  return findings;
}

/** A file as SARIF and GitHub locate it: relative to `cwd`, `/`-separated. */
export function relativeFile(file: string, cwd: string): string {
  return path.relative(cwd, file).split(path.sep).join('/');
}
