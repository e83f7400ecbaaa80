import type { DrillReport } from '../../commands/drill.ts';
import { backupFile } from '../backup-argument.ts';
import { defineCommand } from '../command.ts';
import { formatDrill } from '../format.ts';

export const drill = defineCommand({
  name: 'drill',
  description: 'restore test: the newest verified backup into a scratch database, timed (exit 4 on failure)',
  args: {
    backup: { type: 'positional', description: 'a given backup instead of the newest verified one' },
    fromArchive: { type: 'boolean', description: "drill from the WAL archive's latest point" },
  },
  async run({ backup, fromArchive }, context): Promise<DrillReport> {
    const { locations, config, output } = context;
    const { runDrill } = await import('../../commands/drill.ts');
    return runDrill({
      backupDir: locations.backupDir,
      database: locations.database,
      engine: locations.engine,
      config,
      ...(backup === undefined ? {} : { backup: await backupFile(backup, context) }),
      ...(fromArchive ? { fromArchive: { database: locations.database } } : {}),
      onEvent: (event) => output.event(event),
    });
  },
  format: formatDrill,
});
