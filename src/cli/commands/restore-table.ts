import type { RestoreTableReport } from '../../commands/restore-table.ts';
import { backupFile } from '../backup-argument.ts';
import { defineCommand } from '../command.ts';
import { formatRestoreTable } from '../format.ts';

export const restoreTable = defineCommand({
  name: 'restore-table',
  description: 'selective restore of one table: SQL for review, or --apply',
  args: {
    backup: { type: 'positional', required: true, description: 'a backup file, or its name in the backup folder' },
    table: { type: 'positional', required: true, description: 'the table to restore' },
    apply: { type: 'boolean', description: "replace the live table's rows in one transaction" },
    out: { type: 'string', valueHint: 'file', description: 'where to write the SQL (default ./<table>-from-<backup>.sql)' },
    force: { type: 'boolean', description: 'apply even if foreign keys would be violated' },
    fromOtherDatabase: { type: 'boolean', description: 'apply a backup taken from another database (refused otherwise)' },
  },
  async run({ backup, table, apply, out, force, fromOtherDatabase }, context): Promise<RestoreTableReport> {
    const { runRestoreTable } = await import('../../commands/restore-table.ts');
    return runRestoreTable({
      ...context.locations,
      backup: await backupFile(backup, context),
      table,
      apply: apply === true,
      force: force === true,
      fromOtherDatabase: fromOtherDatabase === true,
      ...(out === undefined ? {} : { out }),
      cwd: context.cli.cwd,
      onEvent: (event) => context.output.event(event),
    });
  },
  format: formatRestoreTable,
});
