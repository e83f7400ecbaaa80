import { GuardError } from '../errors.ts';
import type { Run } from './run.ts';

export interface StoppedApp {
  /** After a refusal from here on: the app was stopped for nothing, so it is started again. */
  restartAfterRefusal(): Promise<void>;
}

/** The `beforeMigrate` hook (e.g. `pm2 stop dms-server`); when it fails, nothing is changed. */
export async function stopApp(run: Run): Promise<StoppedApp> {
  const before = await run.hooks.run('beforeMigrate');
  if (before && !before.ok) {
    throw new GuardError(
      'HOOK_FAILED',
      `beforeMigrate hook failed (exit ${before.exitCode}): ${firstLine(before.output)}; nothing was changed`,
    );
  }
  return {
    async restartAfterRefusal() {
      if (before) await run.hooks.run('afterMigrate', { MIGRATE_GUARD_OUTCOME: 'refused' });
    },
  };
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '') ?? '(no output)';
}
