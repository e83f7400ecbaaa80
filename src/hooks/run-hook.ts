import { redactText } from '../redact.ts';

export type HookName =
  | 'beforeMigrate'
  | 'afterMigrate'
  | 'onFailure'
  | 'onAlert'
  | 'beforeRestore'
  | 'afterRestore'
  /** `backups.verifyCommand`: the archive tool's check of a restore point's archive (pgbackrest verify). */
  | 'verifyCommand';

export interface HookResult {
  readonly hook: HookName;
  readonly command: string;
  readonly ok: boolean;
  readonly exitCode: number | null;
  /** The hook's stdout and stderr, interleaved, trimmed. */
  readonly output: string;
}

/**
 * Runs a configured shell command (e.g. `pm2 stop dms-server`). The run's facts arrive as
 * MIGRATE_GUARD_* variables so an alerting hook can say what failed without parsing our output.
 */
export async function runHook(
  hook: HookName,
  command: string,
  options: { readonly cwd: string; readonly env: Readonly<Record<string, string>>; readonly timeoutMs: number },
): Promise<HookResult> {
  // Loaded on first use: most runs have no hooks, and execa is not free to load.
  const { execa } = await import('execa');
  const result = await execa(command, {
    shell: true,
    cwd: options.cwd,
    // Not the environment as it is: DATABASE_URL (and any other URL) with its password would reach
    // a hook that pastes its environment into a chat or a ticket.
    env: { ...inheritedEnvironment(), ...options.env, MIGRATE_GUARD_HOOK: hook },
    extendEnv: false,
    stdin: 'ignore',
    all: true,
    reject: false,
    timeout: options.timeoutMs,
  });
  const ok = !result.failed && result.exitCode === 0;
  const output = (result.all ?? '').trim();
  return { hook, command, ok, exitCode: result.exitCode ?? null, output: ok ? output : output || (result.shortMessage ?? '') };
}

/** Proxy settings a hook's own tools (curl, a pager's client) need as they are. */
const PASSED_AS_IS = /^(https?_proxy|all_proxy|no_proxy)$/i;

/** This process's environment with every URL's password and secret parameters as `***` (see redact.ts). */
function inheritedEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    env[key] = PASSED_AS_IS.test(key) ? value : redactText(value);
  }
  return env;
}
