import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuardError, messageOf, type GuardErrorCode, type SourceLocation } from './errors.ts';

/** A file of the project that migrate-guard loads, as a refusal names it. */
export interface ProjectFile {
  readonly file: string;
  /** How the message calls it: `migration 001_items`, `config`, `knexfile`, `umzug module`. */
  readonly role: string;
  readonly code: GuardErrorCode;
}

/**
 * Why a project's file could not be loaded, as a refusal an on-call engineer can act on: one
 * line with `file:line:column` and what is wrong (a syntax error, a package that is not
 * installed, an exception the file threw while loading), and as context the offending line with a
 * caret (or the exception's stack, trimmed to the project's own files).
 *
 * The location comes from where each loader puts it: esbuild (tsx, for TypeScript and for the
 * JavaScript Node cannot load alone) in `errors[].location`; Node's CommonJS loader in the first
 * lines of the stack; Node's ES module parser nowhere, so the file is parsed again with esbuild to
 * find it. A missing module is found in the file by its specifier.
 */
export async function loadFailure(what: ProjectFile, error: unknown): Promise<GuardError> {
  if (error instanceof GuardError) return error;
  const syntax =
    (await esbuildError(error)) ??
    tsxTransformError(error, what.file) ??
    (isSyntaxError(error) && userFrames(error).length === 0 ? await nodeSyntaxError(what.file, error) : null);
  if (syntax) {
    return refusal(what, error, syntax.location, `syntax error in ${what.role}: ${syntax.text}; fix it and run again`);
  }
  const missing = missingModule(error);
  if (missing && cleanPath(missing.specifier) === what.file)
    return new GuardError(what.code, `${what.file}: ${what.role} does not exist`, { cause: error });
  if (missing) {
    const importer = missing.importer !== null && isUserFile(missing.importer) ? missing.importer : what.file;
    const location = await findSpecifier(importer, missing.specifier);
    const through = importer === what.file ? '' : ` (through ${importer})`;
    const fix = isPackage(missing.specifier)
      ? `which is not installed: run npm install ${packageName(missing.specifier)}, or remove the import`
      : 'which does not exist: fix the path';
    return refusal(what, error, location ?? { file: importer }, `${what.role}${through} imports '${missing.specifier}', ${fix}`);
  }
  const frames = userFrames(error);
  const thrower =
    frames.find((frame) => frame.location !== null && frame.location.file === what.file) ?? frames.find((frame) => frame.location !== null);
  const stack = [
    `${error instanceof Error ? `${error.name}: ` : 'thrown: '}${messageOf(error)}`,
    ...frames.map((frame) => frame.text),
  ].join('\n');
  return refusal(what, error, thrower?.location ?? { file: what.file }, `${what.role} threw while loading: ${messageOf(error)}`, stack);
}

type Place = SourceLocation | { readonly file: string };

async function refusal(what: ProjectFile, cause: unknown, place: Place, text: string, stack?: string): Promise<GuardError> {
  const located = 'line' in place;
  const excerpt = located ? await sourceExcerpt(place) : null;
  const context = [excerpt, stack].filter((part): part is string => typeof part === 'string' && part !== '').join('\n');
  return new GuardError(what.code, `${located ? `${place.file}:${place.line}:${place.column}` : place.file}: ${text}`, {
    cause,
    ...(located ? { location: place } : {}),
    ...(context === '' ? {} : { context }),
  });
}

// --- syntax errors -------------------------------------------------------------------------------

interface Located {
  readonly location: SourceLocation;
  readonly text: string;
}

interface EsbuildMessage {
  readonly text: string;
  readonly location: { readonly file: string; readonly line: number; readonly column: number } | null;
}

/** esbuild's failure (tsx's, or our own re-parse): its first error, located (esbuild's column counts from 0). */
async function esbuildError(error: unknown): Promise<Located | null> {
  const messages = (error as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(messages)) return null;
  const first = messages.find((message: EsbuildMessage) => message?.location) as EsbuildMessage | undefined;
  if (!first?.location) return null;
  const { file, line, column } = first.location;
  return { location: { file: path.resolve(file), line, column: column + 1 }, text: first.text };
}

/**
 * tsx rethrows esbuild's failure as a `TransformError` without its `errors`; the message keeps
 * esbuild's `file:line:column: ERROR: text` lines (the column from 0; the file sometimes with a
 * `.js` tsx appended for its own purposes).
 */
function tsxTransformError(error: unknown, file: string): Located | null {
  if (!(error instanceof Error) || error.name !== 'TransformError') return null;
  const match = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m.exec(error.message);
  if (!match) return null;
  const reported = path.resolve(match[1]!);
  return {
    location: {
      file: reported !== file && reported.startsWith(file) ? file : reported,
      line: Number(match[2]),
      column: Number(match[3]) + 1,
    },
    text: match[4]!,
  };
}

function isSyntaxError(error: unknown): boolean {
  return error instanceof SyntaxError || (error instanceof Error && error.name === 'SyntaxError');
}

/**
 * Node's own SyntaxError. The CommonJS loader puts `file:line`, the line and a caret at the top of
 * the stack; the ES module parser says only what is wrong, so the file is parsed again with
 * esbuild (JavaScript both of them parse alike) to find where. Not found: the file alone.
 */
async function nodeSyntaxError(file: string, error: unknown): Promise<Located | null> {
  const stack = String((error as Error).stack ?? '');
  const header = /^(.+):(\d+)\r?\n(.*)\r?\n( *\^+) *\r?\n/.exec(stack);
  if (header) {
    return {
      location: { file: cleanPath(header[1]!), line: Number(header[2]), column: header[4]!.indexOf('^') + 1 },
      text: messageOf(error),
    };
  }
  try {
    const { transform } = await import('esbuild');
    await transform(await readFile(file, 'utf8'), { loader: /\.[cm]?tsx?$/.test(file) ? 'ts' : 'js', sourcefile: file });
  } catch (reparsed) {
    const found = await esbuildError(reparsed);
    // Node's wording, esbuild's place: the message the user would see from `node` itself.
    if (found) return { location: found.location, text: messageOf(error) };
  }
  return null;
}

// --- missing modules -----------------------------------------------------------------------------

function missingModule(error: unknown): { specifier: string; importer: string | null } | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return null;
  const message = String((error as Error).message);
  const specifier = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
  if (specifier === undefined) return null;
  const importer = /imported from (\S+)/.exec(message)?.[1] ?? /Require stack:\r?\n- (.+)/.exec(message)?.[1] ?? null;
  return { specifier, importer: importer === null ? null : cleanPath(importer) };
}

function isPackage(specifier: string): boolean {
  return !specifier.startsWith('.') && !path.isAbsolute(specifier) && !specifier.startsWith('file:');
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Where the file names the module it cannot load: the quoted specifier, or, when Node reports the
 * resolved path of a missing relative file, a quoted specifier ending in that file's name.
 */
async function findSpecifier(file: string, specifier: string): Promise<SourceLocation | null> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const wanted = isPackage(specifier)
    ? [specifier]
    : [specifier, path.basename(specifier), path.basename(specifier, path.extname(specifier))];
  for (const name of wanted) {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const pattern = isPackage(specifier) || name === specifier ? `(['"\`])${escaped}\\1` : `(['"\`])[^'"\`\\n]*${escaped}\\1`;
    const match = new RegExp(pattern).exec(source);
    if (match) return locationAt(file, source, match.index);
  }
  return null;
}

function locationAt(file: string, source: string, index: number): SourceLocation {
  const before = source.slice(0, index).split('\n');
  return { file, line: before.length, column: before.at(-1)!.length + 1 };
}

// --- exceptions while loading --------------------------------------------------------------------

interface Frame {
  /** The frame as printed, its place made readable. */
  readonly text: string;
  /** Null when the position is that of code tsx generated, not the file's own lines. */
  readonly location: SourceLocation | null;
}

/** migrate-guard's own code (src/ or dist/): never the user's. */
const OWN_CODE = path.dirname(fileURLToPath(import.meta.url));

function isUserFile(file: string): boolean {
  return path.isAbsolute(file) && !file.includes(`${path.sep}node_modules${path.sep}`) && !file.startsWith(OWN_CODE + path.sep);
}

/** The stack's frames in the project's own files, oldest last. */
function userFrames(error: unknown): Frame[] {
  const stack = error instanceof Error ? String(error.stack ?? '') : '';
  const frames: Frame[] = [];
  for (const line of stack.split('\n')) {
    if (!/^\s+at /.test(line)) continue;
    const frame = parseFrame(line.trim());
    if (frame) frames.push(frame);
  }
  return frames;
}

function parseFrame(line: string): Frame | null {
  const match = /^at (?:(.*?) \()?(.+?)\)?$/.exec(line);
  if (!match) return null;
  const where = match[2]!;
  const at = (place: string) => (match[1] ? `    at ${match[1]} (${place})` : `    at ${place}`);
  // tsx runs a CommonJS TypeScript file as a data: URL of its compiled code: the file is named in
  // it, the position is in the compiled code and would point at the wrong line.
  const generated = /^data:.*[?&]filePath=([^:?&\s]+)/.exec(where);
  if (generated) {
    const file = cleanPath(decodeURIComponent(generated[1]!));
    return isUserFile(file) ? { text: at(file), location: null } : null;
  }
  const placed = /^(.+):(\d+):(\d+)$/.exec(where);
  if (!placed) return null;
  const file = cleanPath(placed[1]!);
  if (!isUserFile(file)) return null;
  const location = { file, line: Number(placed[2]), column: Number(placed[3]) };
  return { text: at(`${file}:${location.line}:${location.column}`), location };
}

/** A path from a stack or a message: a file: URL made a path, tsx's `?namespace=…` dropped. */
function cleanPath(where: string): string {
  const bare = where.replace(/\?.*$/, '');
  if (bare.startsWith('file:')) {
    try {
      return fileURLToPath(bare);
    } catch {
      return bare;
    }
  }
  return bare;
}

// --- the excerpt ---------------------------------------------------------------------------------

/**
 * The line before, the offending line and a caret under the column:
 *
 *       2 |   await knex.schema.createTable('a', (t) => {
 *     > 3 |     t.increments(;
 *         |                  ^
 */
export async function sourceExcerpt(location: SourceLocation): Promise<string | null> {
  let lines: string[];
  try {
    lines = (await readFile(location.file, 'utf8')).split(/\r?\n/);
  } catch {
    return null;
  }
  const target = lines[location.line - 1];
  if (target === undefined) return null;
  const width = String(location.line).length;
  const shown = (text: string) => (text.length > 160 ? `${text.slice(0, 157)}...` : text);
  const out: string[] = [];
  if (location.line > 1 && lines[location.line - 2]!.trim() !== '')
    out.push(`  ${String(location.line - 1).padStart(width)} | ${shown(lines[location.line - 2]!)}`);
  out.push(`> ${String(location.line).padStart(width)} | ${shown(target)}`);
  // Tabs kept as tabs, so the caret lands under the character on any tab width.
  const indent = target.slice(0, Math.max(0, location.column - 1)).replace(/[^\t]/g, ' ');
  if (indent.length < 160) out.push(`  ${' '.repeat(width)} | ${indent}^`);
  return out.join('\n');
}
