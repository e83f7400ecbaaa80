import type { HealthReport } from '../../commands/health.ts';
import { clock } from '../clock.ts';
import { defineCommand } from '../command.ts';
import { formatHealth } from '../format.ts';

export const health = defineCommand({
  name: 'health',
  description: 'monitoring: backup age, size changes, failed jobs, scrubs, drills, free space (exit 4 on alerts)',
  args: {
    prometheus: {
      type: 'string',
      valueHint: 'file',
      description: "also write the metrics for node_exporter's textfile collector to <file> (atomically, mode 0644)",
    },
  },
  async run({ prometheus }, { cli, locations, config }): Promise<HealthReport> {
    const { runHealth } = await import('../../commands/health.ts');
    return runHealth({ ...locations, config, now: clock(cli.env), cwd: cli.cwd, ...(prometheus === undefined ? {} : { prometheus }) });
  },
  format: formatHealth,
});
