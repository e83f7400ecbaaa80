import type { MakeReport } from '../../commands/make.ts';
import { defineCommand } from '../command.ts';

export const make = defineCommand({
  name: 'make',
  description: 'write a new migration file from a template',
  args: {
    name: { type: 'positional', required: true, description: 'what the migration does, e.g. add_account_notes' },
    sql: { type: 'boolean', description: 'write <name>.sql and <name>.down.sql instead of a .ts file' },
  },
  async run({ name, sql }, { locations }): Promise<MakeReport> {
    const { runMake } = await import('../../commands/make.ts');
    return runMake({ migrationsDir: locations.migrationsDir, name, sql: sql === true });
  },
  format: (report) => report.files.map((file) => `migrate-guard: wrote ${file}`).join('\n'),
});
