import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';

/**
 * Loads a project's own file (migration, knexfile, config) whatever it is written in: TypeScript
 * or JavaScript, ESM or CommonJS syntax, with or without `"type": "module"` beside it. A plain
 * `import()` gets the module format wrong for `.ts` files with `export` in a CommonJS package.
 */
export async function importProjectFile(file: string): Promise<Record<string, unknown>> {
  return (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
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

function isWrappedDefault(value: unknown): value is { default: unknown } {
  if (value === null || typeof value !== 'object' || !('default' in value)) return false;
  return Object.keys(value).every((key) => key === 'default' || key === '__esModule');
}
