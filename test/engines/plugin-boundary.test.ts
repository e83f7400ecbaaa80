import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../src/engines/registry.ts';

/**
 * Adding an engine is one folder under src/engines/ and one line in the registry (issue 19). These
 * tests keep it so: nothing outside an engine's folder names an engine's kind in code (it reads
 * what it needs from the engine or its descriptor), and nothing outside it imports its code
 * (only the registry imports each descriptor). Comments may name engines: only code is read.
 */
const SRC = path.resolve(import.meta.dirname, '../../src');
const ENGINES_DIR = path.join(SRC, 'engines');
const REGISTRY = path.join(ENGINES_DIR, 'registry.ts');
const KINDS: readonly string[] = ENGINES.map((engine) => engine.kind);

/**
 * Imports across engine folders that an engine opts into on purpose, each with why: an engine's
 * statement classifier (`<engine>/write-set.ts`) may read the statements it shares with SQLite
 * (INSERT/UPDATE/DELETE, CREATE/ALTER/DROP TABLE and INDEX) with SQLite's classifier.
 */
const OPTED_IN = /^[a-z0-9-]+\/write-set\.ts -> sqlite\/write-set\.ts$/;

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

/** The engine folder a file is in (`sqlite`), or null when it is in none. */
function engineFolderOf(file: string): string | null {
  const relative = path.relative(ENGINES_DIR, file);
  if (relative.startsWith('..')) return null;
  const [first, ...rest] = relative.split(path.sep);
  return rest.length > 0 ? first! : null;
}

/** Every string literal of the file's code, with its line, and every module it imports (static or dynamic). */
function readCode(file: string, text: string): { literals: { text: string; line: number }[]; imports: string[] } {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const literals: { text: string; line: number }[] = [];
  const imports: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      const parent = node.parent;
      const isSpecifier =
        (ts.isImportDeclaration(parent) || ts.isExportDeclaration(parent)) && parent.moduleSpecifier === node
          ? true
          : ts.isCallExpression(parent) && parent.expression.kind === ts.SyntaxKind.ImportKeyword;
      if (isSpecifier) imports.push(node.text);
      else literals.push({ text: node.text, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      imports.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { literals, imports };
}

describe('engines as plugins', () => {
  it('knows the registered kinds (the rule below has something to look for)', () => {
    expect(KINDS.length).toBeGreaterThanOrEqual(2);
  });

  it('no file outside an engine folder and the registry names an engine kind in its code', async () => {
    const offences: string[] = [];
    for (const file of await sourceFiles(SRC)) {
      if (file === REGISTRY || engineFolderOf(file) !== null) continue;
      const { literals } = readCode(file, await readFile(file, 'utf8'));
      for (const literal of literals) {
        if (KINDS.includes(literal.text)) offences.push(`${path.relative(SRC, file)}:${literal.line}: '${literal.text}'`);
      }
    }
    expect(offences, 'read what differs from the engine or its descriptor instead').toEqual([]);
  });

  it("nothing imports an engine's code from outside its folder, but the registry its descriptor", async () => {
    const offences: string[] = [];
    for (const file of await sourceFiles(SRC)) {
      const from = engineFolderOf(file);
      const { imports } = readCode(file, await readFile(file, 'utf8'));
      for (const specifier of imports) {
        if (!specifier.startsWith('.')) continue;
        const target = path.resolve(path.dirname(file), specifier);
        const to = engineFolderOf(target);
        if (to === null || to === from) continue;
        const edge = `${path.relative(ENGINES_DIR, file)} -> ${path.relative(ENGINES_DIR, target)}`;
        if (file === REGISTRY && path.basename(target) === 'descriptor.ts') continue;
        if (OPTED_IN.test(edge.split(path.sep).join('/'))) continue;
        offences.push(path.relative(SRC, file) + ` imports ${specifier}`);
      }
    }
    expect(offences, 'reach an engine through the registry (descriptor.load()) and the Engine it builds').toEqual([]);
  });

  it('resolving a location loads no engine code and no driver: what the registry imports statically is light', async () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = ts.createSourceFile(file, await readFile(file, 'utf8'), ts.ScriptTarget.Latest, true);
      for (const statement of source.statements) {
        // Static imports that are not type-only: what loading the file loads.
        if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
        if (ts.isImportDeclaration(statement) && statement.importClause?.isTypeOnly) continue;
        if (ts.isExportDeclaration(statement) && statement.isTypeOnly) continue;
        const specifier = statement.moduleSpecifier;
        if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
        if (specifier.text.startsWith('.')) await walk(path.resolve(path.dirname(file), specifier.text));
        else packages.add(specifier.text);
      }
    };
    await walk(REGISTRY);
    const engineCode = [...seen].filter((file) => engineFolderOf(file) !== null && path.basename(file) === 'engine.ts');
    expect(engineCode.map((file) => path.relative(SRC, file))).toEqual([]);
    expect([...packages].filter((name) => !name.startsWith('node:'))).toEqual([]);
  });
});
