import type { CheckResult } from './checks/contract.ts';
import type { HookResult } from './hooks/run-hook.ts';
import type { DatabaseWait, LockHolder } from './engines/contract.ts';

/**
 * What a run tells its listener while it works. Events are for logs and progress bars only: the
 * outcome is the returned report, and nothing in the safety sequence depends on a listener.
 */
export type GuardEvent =
  | { readonly type: 'step'; readonly message: string }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'lock-takeover'; readonly holder: LockHolder }
  | { readonly type: 'progress'; readonly task: 'backup' | 'restore'; readonly done: number; readonly total: number }
  /**
   * A long step whose work cannot be counted (an integrity check): a terminal shows what is being
   * proven and the time it has taken so far, until the next event.
   */
  | { readonly type: 'working'; readonly label: string }
  | { readonly type: 'migration-start'; readonly name: string }
  | { readonly type: 'migration-done'; readonly name: string; readonly direction: 'up' | 'down'; readonly durationMs: number }
  | { readonly type: 'migration-failed'; readonly name: string; readonly message: string }
  | { readonly type: 'check'; readonly result: CheckResult }
  | { readonly type: 'hook'; readonly result: HookResult };

export type EventListener = (event: GuardEvent) => void;

/** A copy's progress callback that reports as `progress` events of `task`. */
export function progressOf(emit: EventListener, task: 'backup' | 'restore'): (done: number, total: number) => void {
  return (done, total) => emit({ type: 'progress', task, done, total });
}

/**
 * An engine's waits for a busy live database as events: a warning when the wait starts (a log
 * shows it), a ticking `working` line on a terminal while it lasts, and a step when it ends.
 */
export function waitsOf(emit: EventListener): (wait: DatabaseWait) => void {
  return (wait) => {
    if (wait.over) {
      emit({ type: 'step', message: `database ${wait.database} answered after ${(wait.waitedMs / 1000).toFixed(1)}s` });
      return;
    }
    emit({
      type: 'warning',
      message: `database ${wait.database} is busy (${wait.reason}); waiting up to ${Math.round(wait.patienceMs / 1000)}s for it`,
    });
    emit({ type: 'working', label: `waiting for ${wait.database}` });
  };
}
