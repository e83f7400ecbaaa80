import { createInterface } from 'node:readline/promises';
import type { RestoreReport } from '../../commands/restore.ts';
import { backupFile } from '../backup-argument.ts';
import { defineCommand, type CliEnvironment } from '../command.ts';
import { GuardError } from '../../errors.ts';
import { formatRestore } from '../format.ts';

async function askYesNo(cli: CliEnvironment, question: string): Promise<boolean> {
  const readline = createInterface({ input: cli.stdin!, output: cli.stderr });
  try {
    return /^y(es)?$/i.test((await readline.question(question)).trim());
  } finally {
    readline.close();
  }
}

export const restore = defineCommand({
  name: 'restore',
  description: 'full restore into the live database, verified before and after',
  args: {
    backup: { type: 'positional', description: 'a backup file, or its name in the backup folder' },
    latest: { type: 'boolean', description: 'the newest verified backup' },
    to: {
      type: 'string',
      valueHint: 'time',
      description: 'the newest verified backup at or before "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601',
    },
    fromOtherDatabase: {
      type: 'boolean',
      description: "restore a backup taken from another database (refused without: a shared backup folder holds other databases' backups)",
    },
  },
  async run({ backup, latest, to, fromOtherDatabase }, context): Promise<RestoreReport> {
    const { cli, flags, locations, config, output } = context;
    const { parseRestoreTime, runRestore } = await import('../../commands/restore.ts');
    const given = [backup !== undefined, latest === true, to !== undefined].filter(Boolean).length;
    if (given !== 1) throw new GuardError('USAGE', 'restore needs exactly one of: <backup>, --latest, --to "<time>"');
    const target =
      backup !== undefined
        ? { backup: await backupFile(backup, context) }
        : latest
          ? ({ latest: true } as const)
          : { at: parseRestoreTime(to!) };
    // Only a person at a terminal is asked; --yes and scripts are not.
    const interactive = cli.stdin?.isTTY === true && flags.yes !== true;
    return runRestore({
      ...locations,
      config,
      target,
      fromOtherDatabase: fromOtherDatabase === true,
      cwd: cli.cwd,
      onEvent: (event) => output.event(event),
      ...(interactive ? { confirm: (summary: string) => askYesNo(cli, `${summary}\nRestore? [y/N] `) } : {}),
    });
  },
  format: formatRestore,
});
