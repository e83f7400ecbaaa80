import type { BackupsReport } from '../../commands/backups.ts';
import { defineCommand } from '../command.ts';
import { formatBackups } from '../format.ts';

export const backups = defineCommand({
  name: 'backups',
  description: 'list backups, newest first',
  args: {},
  async run(_args, { locations }): Promise<BackupsReport> {
    const { runBackups } = await import('../../commands/backups.ts');
    return runBackups(locations);
  },
  format: formatBackups,
});
