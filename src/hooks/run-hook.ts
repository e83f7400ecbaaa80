
export type HookName = 'beforeMigrate' | 'afterMigrate' | 'onFailure' | 'onAlert' | 'beforeRestore' | 'afterRestore';

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
    env: { ...options.env, MIGRATE_GUARD_HOOK: hook },
    stdin: 'ignore',
    all: true,
    reject: false,
    timeout: options.timeoutMs,
  });
  const ok = !result.failed && result.exitCode === 0;
  const output = (result.all ?? '').trim();
  return { hook, command, ok, exitCode: result.exitCode ?? null, output: ok ? output : output || (result.shortMessage ?? "") };
}
