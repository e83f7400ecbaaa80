import type { VerifyReport } from '../../commands/verify.ts';
import { backupFile } from '../backup-argument.ts';
import { defineCommand } from '../command.ts';
import { formatVerify } from '../format.ts';

export const verify = defineCommand({
  name: 'verify',
  description: 'check that a backup is restorable (exit 4 when it is not)',
  args: {
    backup: { type: 'positional', required: true, description: 'a backup file, or its name in the backup folder' },
  },
  async run({ backup }, context): Promise<VerifyReport> {
    const { runVerify } = await import('../../commands/verify.ts');
    return runVerify({ backup: await backupFile(backup, context), backupDir: context.locations.backupDir });
  },
  format: formatVerify,
});
