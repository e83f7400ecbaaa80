import type { PruneReport } from '../../commands/prune.ts';
import { clock } from '../clock.ts';
import { defineCommand } from '../command.ts';
import { formatPrune } from '../format.ts';

export const prune = defineCommand({
  name: 'prune',
  description: 'apply the retention policy',
  args: {
    dryRun: { type: 'boolean', description: 'list what would be removed and why; remove nothing' },
  },
  async run({ dryRun }, { cli, locations, config }): Promise<PruneReport> {
    const { runPrune } = await import('../../commands/prune.ts');
    return runPrune({ backupDir: locations.backupDir, database: locations.database, config, dryRun: dryRun === true, now: clock(cli.env) });
  },
  format: formatPrune,
});
