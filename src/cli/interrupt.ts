import type { CliEnvironment } from './environment.ts';
import type { Output } from './output.ts';

/** What the operator is told on each SIGINT/SIGTERM (`count` is 1 for the first), per kind of command. */
const notices = {
  // A rollout cannot stop mid-statement; a second Ctrl-C must not tempt anyone into kill -9
  // while the backup is being put back.
  rollout: (signal: NodeJS.Signals, count: number) =>
    count === 1
      ? `migrate-guard: ${signal} received: stopping after the current statement and restoring the backup; please wait`
      : 'migrate-guard: still stopping; the database is being put back, do not kill this process',
  archive: (signal: NodeJS.Signals) => `migrate-guard: ${signal} received: stopping Litestream`,
} satisfies Record<string, (signal: NodeJS.Signals, count: number) => string>;

export type Interrupt = keyof typeof notices;

export interface InterruptListener {
  readonly signal: AbortSignal;
  readonly stop: () => void;
}

/**
 * The one place where the CLI environment's signals become an AbortSignal. Without an interrupt
 * nothing is registered, so a signal ends the process as it would any other program.
 */
export function listenForInterrupt(cli: CliEnvironment, output: Output, interrupt: Interrupt | null): InterruptListener {
  const controller = new AbortController();
  if (interrupt === null) return { signal: controller.signal, stop: () => {} };
  let count = 0;
  const unregister = cli.onSignal?.((signal) => {
    count += 1;
    output.line(notices[interrupt](signal, count));
    // Aborting again is a no-op: the command is already stopping.
    controller.abort();
  });
  return { signal: controller.signal, stop: () => unregister?.() };
}
