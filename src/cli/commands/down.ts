import { defineCommand } from '../command.ts';
import { DRY_RUN_ARGS, formatGuardedRun, guardedRun, guardedRunInterrupt, guardedRunRefusalKeys } from '../guarded-run.ts';

export const down = defineCommand({
  name: 'down',
  description: 'revert applied migrations with their down, under the same guard',
  args: {
    to: { type: 'string', valueHint: 'name', description: 'revert down to and including <name>' },
    step: { type: 'string', valueHint: 'n', description: 'revert the last <n> migrations (default 1)' },
    dryRun: { type: 'boolean', description: 'rehearse on a scratch copy and report; the database is not touched' },
    ...DRY_RUN_ARGS,
  },
  // Reverting never creates a database.
  run: (args, context) => guardedRun('down', { ...args, create: false }, context),
  format: formatGuardedRun,
  interrupt: guardedRunInterrupt,
  refusalKeys: guardedRunRefusalKeys,
});
