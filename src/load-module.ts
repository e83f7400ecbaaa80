import { pathToFileURL } from 'node:url';
import { loadFailure, type ProjectFile } from './load-failure.ts';

const TYPESCRIPT_FILE = /\.[cm]?ts$/i;

/**
 * Loads a project's own file (migration, knexfile, config) whatever it is written in: TypeScript
 * or JavaScript, ESM or CommonJS syntax, with or without `"type": "module"` beside it.
 *
 * JavaScript gets Node's own `import()` (a CommonJS `module.exports` arrives as `default`), so a
 * project without TypeScript never loads tsx. TypeScript goes through tsx, imported only then; a
 * plain `import()` would also get the module format wrong for `.ts` files with `export` in a
 * CommonJS package.
 */
export async function importProjectFile(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (TYPESCRIPT_FILE.test(file)) return importWithTsx(url);
  try {
    // (The build wraps this import() in tsc's extension-rewriting helper, which only touches
    // relative './x.ts' specifiers: a file: URL passes through unchanged.)
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    // Every project file went through tsx before, and some JavaScript still only loads that way:
    // ESM syntax in a `.js` file of a package without `"type": "module"` (Node < 20.19 does not
    // detect it; later versions load it with a MODULE_TYPELESS_PACKAGE_JSON warning), a `.js`
    // file importing a `.ts` helper, extensionless or directory imports, JSON without an import
    // attribute. For an ES module Node reports those while parsing and linking, before any of its
    // code runs; a CommonJS file's failing `require()` has run the lines above it, which run again
    // through tsx (migrations do their work in up/down, not when loaded).
    if (!isFormatError(error)) throw error;
    try {
      return await importWithTsx(url);
    } catch (retried) {
      // A file Node could not parse and tsx cannot either: Node's SyntaxError says what is wrong,
      // unless esbuild's (a TransformError) says where too; tsx's module lexer only says "Parse error".
      throw error instanceof SyntaxError && !(retried instanceof Error && retried.name === 'TransformError') ? error : retried;
    }
  }
}

/**
 * The default export of a project file. A `.ts` file with `export default` in a CommonJS package
 * arrives wrapped twice (`{ default: { default: value } }`).
 */
export async function importProjectDefault(file: string): Promise<unknown> {
  const loaded = await importProjectFile(file);
  let value: unknown = 'default' in loaded ? loaded.default : loaded;
  while (isWrappedDefault(value)) value = value.default;
  return value;
}

/**
 * A project's file, loaded as `importProjectFile` does; a file that cannot be loaded is refused
 * with its file, line and column and what is wrong (see `loadFailure`).
 */
export async function loadProjectFile(what: ProjectFile): Promise<Record<string, unknown>> {
  try {
    return await importProjectFile(what.file);
  } catch (error) {
    throw await loadFailure(what, error);
  }
}

/** `importProjectDefault`, refusing as `loadProjectFile` does. */
export async function loadProjectDefault(what: ProjectFile): Promise<unknown> {
  try {
    return await importProjectDefault(what.file);
  } catch (error) {
    throw await loadFailure(what, error);
  }
}

async function importWithTsx(url: string): Promise<Record<string, unknown>> {
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
}

const FORMAT_ERROR_CODES = new Set([
  'ERR_UNKNOWN_FILE_EXTENSION',
  'ERR_MODULE_NOT_FOUND',
  'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_REQUIRE_ESM',
  'ERR_IMPORT_ATTRIBUTE_MISSING',
  'ERR_IMPORT_ASSERTION_TYPE_MISSING',
]);

function isFormatError(error: unknown): boolean {
  if (error instanceof SyntaxError) return true;
  const code = error !== null && typeof error === 'object' && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && FORMAT_ERROR_CODES.has(code);
}

function isWrappedDefault(value: unknown): value is { default: unknown } {
  if (value === null || typeof value !== 'object' || !('default' in value)) return false;
  return Object.keys(value).every((key) => key === 'default' || key === '__esModule');
}
