import type { OutputStreams } from './output.ts';

/** What the CLI gets from its process: argv, streams, env, cwd, signals (tests pass their own). */
export interface CliEnvironment extends OutputStreams {
  readonly argv: readonly string[];
  /** For confirmation prompts; without a terminal there are none (as with --yes). */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Registers SIGINT/SIGTERM; returns a function that unregisters. */
  readonly onSignal?: (listener: (signal: NodeJS.Signals) => void) => () => void;
}
