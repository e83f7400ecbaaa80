import { defineCommand } from '../command.ts';
import { DRY_RUN_ARGS, formatGuardedRun, guardedRun, guardedRunInterrupt, guardedRunRefusalKeys } from '../guarded-run.ts';

export const migrate = defineCommand({
  name: 'migrate',
  description: 'apply pending migrations under the guard',
  args: {
    to: { type: 'string', valueHint: 'name', description: 'apply pending migrations up to and including <name>' },
    dryRun: { type: 'boolean', description: 'rehearse on a scratch copy and report; the database is not touched' },
    ...DRY_RUN_ARGS,
    create: { type: 'boolean', description: 'create the database if it does not exist (default outside NODE_ENV=production)' },
  },
  run: (args, context) => guardedRun('up', args, context),
  format: formatGuardedRun,
  interrupt: guardedRunInterrupt,
  refusalKeys: guardedRunRefusalKeys,
});
