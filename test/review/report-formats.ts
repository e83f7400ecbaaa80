import { readFile } from 'node:fs/promises';
import path from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import { XMLParser } from 'fast-xml-parser';
import { REPO } from '../helpers/project.ts';

/** Checks a report against the SARIF 2.1.0 schema (test/fixtures/sarif); the errors, none when valid. */
export async function sarifErrors(log: unknown): Promise<string[]> {
  const schema = JSON.parse(await readFile(path.join(REPO, 'test/fixtures/sarif/sarif-2.1.0-rtm.5.json'), 'utf8')) as object;
  // The schema's patterns are ECMA-262 without the unicode flag (one is not valid with it).
  // CommonJS packages: their classes are the `default` export of what Node hands over.
  const Ajv = AjvDraft04.default;
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  ajvFormats.default(ajv);
  const validate = ajv.compile(schema);
  if (validate(log)) return [];
  return (validate.errors ?? []).map((error: { instancePath: string; message?: string }) => `${error.instancePath} ${error.message ?? ''}`);
}

export interface JunitCase {
  readonly suite: string;
  readonly name: string;
  readonly classname: string;
  readonly file: string | null;
  readonly failure: string | null;
  readonly out: string | null;
}

/** A JUnit XML report read by fast-xml-parser: every testcase with its suite and failure. */
export function parseJunit(xml: string): { readonly tests: number; readonly failures: number; readonly cases: JunitCase[] } {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    isArray: (name) => ['testsuite', 'testcase'].includes(name),
  });
  const document = parser.parse(xml, true) as { testsuites: { tests: string; failures: string; testsuite?: any[] } };
  const cases: JunitCase[] = [];
  for (const suite of document.testsuites.testsuite ?? []) {
    for (const testcase of suite.testcase ?? []) {
      cases.push({
        suite: suite.name,
        name: String(testcase.name),
        classname: testcase.classname,
        file: testcase.file ?? null,
        failure: testcase.failure === undefined ? null : (testcase.failure.message ?? ''),
        out: testcase['system-out'] ?? null,
      });
    }
  }
  return { tests: Number(document.testsuites.tests), failures: Number(document.testsuites.failures), cases };
}

/** Markdown with its timings and knex's temporary table numbers made stable, for the expected file. */
export function normaliseMarkdown(markdown: string): string {
  return markdown
    .replace(/\b\d+ ms\b/g, 'N ms')
    .replace(/_knex_temp_alter\d+/g, '_knex_temp_alterN')
    .replace(/SAVEPOINT trx\d+/g, 'SAVEPOINT trxN');
}
