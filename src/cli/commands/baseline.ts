import type { BaselineReport } from '../../commands/baseline.ts';
import { GuardError } from '../../errors.ts';
import { defineCommand } from '../command.ts';
import { formatBaseline } from '../format.ts';

export const baseline = defineCommand({
  name: 'baseline',
  description: 'record the migrations up to <name> as applied without running them (adopting a database that has no history)',
  args: {
    to: { type: 'string', valueHint: 'name', description: 'the last migration the database already has' },
  },
  async run({ to }, { locations, config, output }): Promise<BaselineReport> {
    if (to === undefined) throw new GuardError('USAGE', 'baseline needs --to <name>: the last migration the database already has');
    const { runBaseline } = await import('../../commands/baseline.ts');
    return runBaseline({ ...locations, config, to, onEvent: output.event.bind(output) });
  },
  format: formatBaseline,
});
