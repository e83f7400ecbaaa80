import type { BackupReport } from '../../commands/backup.ts';
import { REQUESTABLE_KINDS } from '../../backup/kinds.ts';
import { defineCommand } from '../command.ts';
import { formatBackup } from '../format.ts';

export const backup = defineCommand({
  name: 'backup',
  description: 'a verified backup, safe while the application writes',
  args: {
    kind: { type: 'enum', valueHint: 'kind', options: REQUESTABLE_KINDS, default: 'manual', description: 'backup kind' },
    compress: {
      type: 'boolean',
      description: 'gzip the verified copy (default for daily, weekly, monthly)',
      negativeDescription: 'do not gzip, whatever the kind',
    },
  },
  async run({ kind, compress }, { locations, config, output }): Promise<BackupReport> {
    const { runBackup } = await import('../../commands/backup.ts');
    return runBackup({
      ...locations,
      config,
      kind,
      // Neither flag: the kind's default from the config.
      ...(compress === undefined ? {} : { compress }),
      onProgress: (done, total) => output.event({ type: 'progress', task: 'backup', done, total }),
      onEvent: (event) => output.event(event),
      onVerify: (labels) => {
        output.event({ type: 'step', message: `verifying the backup (checksum, ${labels.copyCheck})` });
        output.event({ type: 'working', label: `proving the backup: sha256 and ${labels.copyProof}` });
      },
    });
  },
  format: formatBackup,
});
