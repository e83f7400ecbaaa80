import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { defineCommand, type CliEnvironment, type Report } from '../../src/cli/command.ts';
import { runCommand } from '../../src/cli/run-command.ts';
import { GuardError } from '../../src/errors.ts';
import { REPO } from '../helpers/project.ts';
import { endOfTest, expectUnexpectedError, watchCliOutput } from '../helpers/unexpected-errors.ts';

/**
 * The refusal every command shares (src/cli/run-command.ts), in process: a command whose `run`
 * throws what a real one could. "unexpected error" is migrate-guard's own bug: it says so, with the
 * version, and asks for a report; a GuardError with a place says it in JSON and shows the context.
 */

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'migrate-guard-run-command-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

async function refusalOf(thrown: unknown, json: boolean) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: '', err: '' };
  stdout.on('data', (chunk: Buffer) => (chunks.out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (chunks.err += chunk.toString()));
  const cli: CliEnvironment = { argv: [], env: {}, cwd, stdout, stderr };
  const command = defineCommand({
    name: 'explode',
    description: 'throws',
    args: {},
    run: async (): Promise<Report> => {
      throw thrown;
    },
    format: () => null,
  });
  const exitCode = await runCommand({ command, args: {}, flags: { json } }, cli);
  return { exitCode, stdout: chunks.out, stderr: chunks.err };
}

describe('runCommand refusals', () => {
  it("an error that is no GuardError is migrate-guard's bug: exit 1, its version, a request to report it", async () => {
    const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    const human = await refusalOf(new TypeError("Cannot read properties of undefined (reading 'name')"), false);
    expect(human.exitCode).toBe(1);
    expect(human.stderr).toBe(
      `migrate-guard: unexpected error in migrate-guard ${version}: Cannot read properties of undefined (reading 'name'); this is a bug in migrate-guard, not a mistake in your project: please report it with this output (MIGRATE_GUARD_DEBUG=1 prints the stack)\n`,
    );
    const json = await refusalOf(new Error('boom'), true);
    expect(JSON.parse(json.stdout).error).toEqual({
      code: 'INTERNAL',
      message: expect.stringContaining(`unexpected error in migrate-guard ${version}: boom;`),
    });
  });

  it('a GuardError with a place gives file, line and column in JSON and its context under the line', async () => {
    const file = path.join(cwd, 'migrations/001_x.ts');
    const error = new GuardError('PROJECT_FILE_INVALID', `${file}:3:5: syntax error in migration 001_x: Unexpected ";"`, {
      location: { file, line: 3, column: 5 },
      context: '> 3 |     ;\n    |     ^',
    });
    const json = await refusalOf(error, true);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).error).toEqual({ code: 'PROJECT_FILE_INVALID', message: error.message, file, line: 3, column: 5 });
    const human = await refusalOf(error, false);
    expect(human.stderr).toBe(`migrate-guard: ${error.message}\n> 3 |     ;\n    |     ^\n`);
  });
});

describe('the suite-wide net for "unexpected error"', () => {
  it('fails the test whose CLI run printed one', () => {
    watchCliOutput(['migrate'], { all: 'migrate-guard: unexpected error in migrate-guard 0.1.0: boom' });
    expect(() => endOfTest()).toThrow(/migrate-guard migrate: migrate-guard: unexpected error in migrate-guard 0.1.0: boom/);
    // What it found is reported once.
    expect(() => endOfTest()).not.toThrow();
  });

  it('lets a test that expects one through', () => {
    expectUnexpectedError();
    watchCliOutput(['migrate'], { stdout: '', stderr: 'migrate-guard: unexpected error in migrate-guard 0.1.0: boom' });
    expect(() => endOfTest()).not.toThrow();
  });
});
