import type { HooksConfig } from '../config/schema.ts';
import type { EventListener } from '../events.ts';
import { redactText } from '../redact.ts';
import { runHook, type HookName, type HookResult } from './run-hook.ts';

export interface HookRunner {
  /** Every hook that ran, in order, for the report. */
  readonly results: readonly HookResult[];
  /** Runs the configured command for `name` (null when none is configured). */
  run(name: HookName, env?: Readonly<Record<string, string>>): Promise<HookResult | null>;
}

export interface HookRunnerOptions {
  /** The config's hooks, and `backups.verifyCommand` where a job may run it (a rollout). */
  readonly hooks: HooksConfig & { readonly verifyCommand?: string | null };
  readonly cwd: string;
  /** MIGRATE_GUARD_* variables every hook of this job gets (the database, the backup). */
  readonly env: Readonly<Record<string, string>>;
  readonly emit?: EventListener;
}

/** The hooks of one job (rollout, restore, health): run, announced, and kept for its report. */
export function hookRunner(options: HookRunnerOptions): HookRunner {
  const results: HookResult[] = [];
  return {
    results,
    async run(name, env = {}) {
      const command = options.hooks[name] ?? null;
      if (command === null) return null;
      options.emit?.({ type: 'step', message: `running ${name} hook: ${command}` });
      // What we tell a hook (an error, an alert) is passed on to chat and pagers: no password in it.
      const told = Object.fromEntries(Object.entries({ ...options.env, ...env }).map(([key, value]) => [key, redactText(value)]));
      const result = await runHook(name, command, { cwd: options.cwd, env: told, timeoutMs: options.hooks.timeoutMs });
      results.push(result);
      options.emit?.({ type: 'hook', result });
      return result;
    },
  };
}
