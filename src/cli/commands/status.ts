import type { StatusReport } from '../../commands/status.ts';
import { defineCommand } from '../command.ts';
import { formatStatus } from '../format.ts';

export const status = defineCommand({
  name: 'status',
  description: 'applied and pending migrations; applied ones whose file changed',
  args: {},
  async run(_args, { locations, config, output }): Promise<StatusReport> {
    const { runStatus } = await import('../../commands/status.ts');
    return runStatus({ ...locations, config, onEvent: (event) => output.event(event) });
  },
  format: formatStatus,
});
