import type { CheckResult } from './checks/contract.ts';
import type { HookResult } from './hooks/run-hook.ts';
import type { LockHolder } from './engines/contract.ts';

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
