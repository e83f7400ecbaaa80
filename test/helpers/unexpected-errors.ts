/**
 * "unexpected error" is migrate-guard's own bug, never the user's mistake: every CLI run the suite
 * makes through its helpers (TempProject.run, the packed app's `cli`, the torture findings' strace
 * runs, the pg-tools runs) has its output checked for it, and the test that made the run fails
 * naming the command and the line, unless the test said it expects one (`expectUnexpectedError`).
 *
 * (No vitest import here: build.ts, the globalSetup, imports project.ts, which imports this;
 * the afterEach is registered by ./fail-on-unexpected-error.ts, one of vitest's setupFiles.)
 */
const found: string[] = [];
let expected = false;
/** Which test a run belongs to: a run a timed-out test left behind ends during the next one, and is not its. */
let generation = 0;

/** The output of one CLI run: any "unexpected error" line in it is kept for the test's end. */
export function watchCliOutput(
  args: readonly string[],
  output: { readonly all?: unknown; readonly stdout?: unknown; readonly stderr?: unknown },
): void {
  const text = typeof output.all === 'string' ? output.all : `${String(output.stdout ?? '')}\n${String(output.stderr ?? '')}`;
  const line = text.split('\n').find((candidate) => /unexpected error/i.test(candidate));
  if (line !== undefined && !expected) found.push(`migrate-guard ${args.join(' ')}: ${line.trim()}`);
}

/** A test that provokes migrate-guard's own bug on purpose says so. */
export function expectUnexpectedError(): void {
  expected = true;
}

/** Runs `child` and, once it ends, checks its output (a rejected run is the test's to see). */
export function watched<T extends Promise<{ readonly all?: unknown; readonly stdout?: unknown; readonly stderr?: unknown }>>(
  args: readonly string[],
  child: T,
): T {
  const startedIn = generation;
  const check = (output: { readonly all?: unknown; readonly stdout?: unknown; readonly stderr?: unknown }) => {
    if (startedIn === generation) watchCliOutput(args, output);
  };
  child.then(check, (error: { readonly all?: unknown; readonly stdout?: unknown; readonly stderr?: unknown }) => check(error ?? {}));
  return child;
}

/** Empties what the test's runs printed and ends its expectation; throws when any printed "unexpected error". */
export function endOfTest(): void {
  const seen = found.splice(0);
  expected = false;
  generation += 1;
  if (seen.length > 0) {
    throw new Error(
      `migrate-guard printed "unexpected error" (its own bug; a user's mistake must be a refusal that names it):\n${seen.join('\n')}`,
    );
  }
}
