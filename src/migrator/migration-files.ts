import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { GuardError } from '../errors.ts';

export type MigrationFormat = 'script' | 'sql';

/**
 * How a history names a migration: migrate-guard's own records the file name without its
 * extension; knex's records the file name as it is.
 */
export type MigrationNaming = 'base-name' | 'file-name';

export interface MigrationFile {
  /** What the history records and `--to` names. */
  readonly name: string;
  readonly path: string;
  readonly format: MigrationFormat;
  /** `<name>.down.sql` beside a `.sql` migration, when there is one. */
  readonly downPath: string | null;
  readonly checksum: string;
}

/** Where migrations are and which files count, as knex's `migrations` settings say it. */
export interface MigrationLayout {
  readonly directories: readonly string[];
  /** Extensions that are migrations (knex's `loadExtensions`); null: scripts and `.sql`. */
  readonly extensions: readonly string[] | null;
  /** Each folder's files in order, folder after folder, instead of all of them by file name. */
  readonly sortDirsSeparately: boolean;
}

const SCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

export function folderLayout(directory: string): MigrationLayout {
  return { directories: [directory], extensions: null, sortDirsSeparately: false };
}

function isMigrationFile(file: string, extensions: readonly string[] | null): boolean {
  if (file.startsWith('.') || file.endsWith('.d.ts') || file.endsWith('.down.sql')) return false;
  if (extensions !== null) return extensions.includes(path.extname(file));
  return file.endsWith('.sql') || SCRIPT_EXTENSIONS.includes(path.extname(file));
}

/**
 * The migrations, in the order they apply: by file name across all folders (the contract's
 * order, and knex's), or folder by folder with `sortDirsSeparately`.
 */
export async function listMigrationFiles(where: string | MigrationLayout, naming: MigrationNaming = 'base-name'): Promise<MigrationFile[]> {
  const layout = typeof where === 'string' ? folderLayout(where) : where;
  const found: { directory: string; file: string; siblings: readonly string[] }[] = [];
  for (const directory of layout.directories) {
    let entries: string[];
    try {
      entries = await readdir(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new GuardError(
          'USAGE',
          `migrations folder ${directory} does not exist; point --migrations / MIGRATIONS_DIR at yours, or create it with migrate-guard make <name>`,
          { cause: error },
        );
      }
      throw new GuardError('USAGE', `migrations folder ${directory} cannot be read; check --migrations / MIGRATIONS_DIR`, { cause: error });
    }
    const files = entries.filter((file) => isMigrationFile(file, layout.extensions));
    if (layout.sortDirsSeparately) files.sort(byCodeUnits);
    found.push(...files.map((file) => ({ directory, file, siblings: entries })));
  }
  if (!layout.sortDirsSeparately) found.sort((a, b) => byCodeUnits(a.file, b.file));
  const result: MigrationFile[] = [];
  const seen = new Map<string, string>();
  for (const { directory, file, siblings } of found) {
    const ext = path.extname(file);
    const base = file.slice(0, -ext.length);
    const name = naming === 'file-name' ? file : base;
    const other = seen.get(name);
    if (other)
      throw new GuardError('USAGE', `two migration files share the name ${name}: ${other} and ${path.join(directory, file)}; keep one`);
    const full = path.join(directory, file);
    seen.set(name, full);
    const format: MigrationFormat = ext === '.sql' ? 'sql' : 'script';
    const downPath = format === 'sql' && siblings.includes(`${base}.down.sql`) ? path.join(directory, `${base}.down.sql`) : null;
    result.push({ name, path: full, format, downPath, checksum: await checksumOf(full) });
  }
  return result;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function checksumOf(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}
