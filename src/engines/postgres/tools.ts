import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { GuardError } from '../../errors.ts';
import { pathExists } from '../../fs/paths.ts';

export type PgTool = 'pg_dump' | 'pg_restore' | 'psql';

/**
 * The client tool to dump or restore a server of major version `serverMajor`: on PATH, or in
 * Debian's `/usr/lib/postgresql/<major>/bin`, the first whose major is at least the server's
 * (pg_dump refuses an older one, and an older pg_restore cannot read a newer dump's format).
 */
export async function findPgTool(tool: PgTool, serverMajor: number): Promise<string> {
  const candidates = [...(await onPath(tool)), ...(await debianCandidates(tool))];
  const { execa } = await import('execa');
  const seen: string[] = [];
  for (const candidate of candidates) {
    const result = await execa(candidate, ['--version'], { reject: false });
    const major = Number(/\b(\d+)(?:\.\d+)?/.exec(result.stdout)?.[1] ?? Number.NaN);
    if (result.exitCode !== 0 || Number.isNaN(major)) continue;
    seen.push(`${candidate} (${major})`);
    if (major >= serverMajor) return candidate;
  }
  throw new GuardError(
    'TOOL_MISSING',
    seen.length === 0
      ? `${tool} is not installed; the PostgreSQL backup needs it: install the PostgreSQL ${serverMajor} client (Debian: apt-get install postgresql-client-${serverMajor})`
      : `${tool} is older than the server (PostgreSQL ${serverMajor}): found ${seen.join(', ')}; install the PostgreSQL ${serverMajor} client tools`,
  );
}

async function onPath(tool: PgTool): Promise<string[]> {
  const found: string[] = [];
  for (const folder of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(folder, tool);
    if (await pathExists(file)) found.push(file);
  }
  return found;
}

async function debianCandidates(tool: PgTool): Promise<string[]> {
  const root = '/usr/lib/postgresql';
  const versions = await readdir(root).catch((): string[] => []);
  return versions
    .filter((version) => /^\d+$/.test(version))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => path.join(root, version, 'bin', tool));
}
