import type { ScrubReport } from '../../commands/scrub.ts';
import type { VerifyReport } from '../../commands/verify.ts';
import { proofLabels } from '../../engines/registry.ts';
import { GuardError } from '../../errors.ts';
import { backupFile } from '../backup-argument.ts';
import { defineCommand } from '../command.ts';
import { formatScrub, formatVerify } from '../format.ts';

export const verify = defineCommand({
  name: 'verify',
  description: 'check that a backup is restorable, or re-read every stored backup with --all (exit 4 when one is not)',
  args: {
    backup: { type: 'positional', description: 'a backup file, or its name in the backup folder' },
    all: {
      type: 'boolean',
      description:
        're-read every stored backup against its manifest (the daily scrub); one that no longer matches stops counting as verified',
    },
    deep: {
      type: 'boolean',
      description: `with --all: the full proof for each (${proofLabels()}, schema, row counts), as verify <backup> does`,
    },
  },
  async run({ backup, all, deep }, context): Promise<VerifyReport | ScrubReport> {
    if ((backup === undefined) === (all !== true)) throw new GuardError('USAGE', 'verify needs exactly one of: <backup>, --all');
    if (all) {
      const { runScrub } = await import('../../commands/scrub.ts');
      return runScrub({
        backupDir: context.locations.backupDir,
        database: context.locations.database,
        directUrl: context.locations.directUrl,
        deep: deep === true,
      });
    }
    const { runVerify } = await import('../../commands/verify.ts');
    return runVerify({
      backup: await backupFile(backup!, context),
      backupDir: context.locations.backupDir,
      database: context.locations.database,
      directUrl: context.locations.directUrl,
    });
  },
  format: (report) => ('all' in report ? formatScrub(report) : formatVerify(report)),
});
