import type { ArchiveReport } from '../../commands/archive.ts';
import { defineCommand } from '../command.ts';

export const archive = defineCommand({
  name: 'archive',
  description: 'continuous WAL archiving with Litestream for point-in-time restore (runs until stopped)',
  args: {},
  async run(_args, { locations, config, output, signal }): Promise<ArchiveReport> {
    const { runArchive } = await import('../../commands/archive.ts');
    return runArchive({ ...locations, config, signal, onEvent: (event) => output.event(event) });
  },
  format: () => 'migrate-guard: archiving stopped',
  // Archiving runs until stopped: a signal is how it ends, cleanly.
  interrupt: () => 'archive',
});
