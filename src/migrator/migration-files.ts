import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { GuardError } from '../errors.ts';

export type MigrationFormat = 'script' | 'sql';

export interface MigrationFile {
  /** The file name without its extension: what storage records and `--to` names. */
  readonly name: string;
  readonly path: string;
  readonly format: MigrationFormat;
  /** `<name>.down.sql` beside a `.sql` migration, when there is one. */
  readonly downPath: string | null;
  readonly checksum: string;
}

const SCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

function isMigrationFile(file: string): boolean {
  if (file.startsWith('.') || file.endsWith('.d.ts') || file.endsWith('.down.sql')) return false;
  return file.endsWith('.sql') || SCRIPT_EXTENSIONS.includes(path.extname(file));
}

/** The migrations folder, in file-name order (the contract's order). */
export async function listMigrationFiles(directory: string): Promise<MigrationFile[]> {
  let entries: string[];
  try {
    entries = await readdir(directory);
  } catch (error) {
    throw new GuardError('USAGE', `migrations folder ${directory} cannot be read; check --migrations / MIGRATIONS_DIR`, {
      cause: error,
    });
  }
  const files = entries.filter(isMigrationFile).sort();
  const result: MigrationFile[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const ext = path.extname(file);
    const name = file.slice(0, -ext.length);
    const other = seen.get(name);
    if (other) {
      throw new GuardError('USAGE', `two migration files share the name ${name}: ${other} and ${file}; keep one`);
    }
    seen.set(name, file);
    const full = path.join(directory, file);
    const format: MigrationFormat = ext === '.sql' ? 'sql' : 'script';
    const downCandidate = path.join(directory, `${name}.down.sql`);
    const downPath = format === 'sql' && entries.includes(`${name}.down.sql`) ? downCandidate : null;
    result.push({ name, path: full, format, downPath, checksum: await checksumOf(full) });
  }
  return result;
}

export async function checksumOf(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}
