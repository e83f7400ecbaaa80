import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { GuardError } from '../errors.ts';

export interface MakeOptions {
  readonly migrationsDir: string;
  readonly name: string;
  readonly sql?: boolean;
  readonly now?: Date;
}

export interface MakeReport {
  readonly command: 'make';
  readonly ok: true;
  readonly exitCode: 0;
  readonly files: readonly string[];
}

const SCRIPT_TEMPLATE = `import type { Knex } from 'knex';

// \`context\` is the Knex instance. The migration runs in a transaction; export
// \`const config = { transaction: false }\` when it must switch foreign-key enforcement.

export async function up({ context: knex }: { context: Knex }): Promise<void> {
  // await knex.schema.alterTable('accounts', (table) => {
  //   table.text('notes');
  // });
  void knex;
}

export async function down({ context: knex }: { context: Knex }): Promise<void> {
  // await knex.schema.alterTable('accounts', (table) => {
  //   table.dropColumn('notes');
  // });
  void knex;
}
`;

const SQL_UP_TEMPLATE = `-- Runs statement by statement in one transaction.
-- ALTER TABLE accounts ADD COLUMN notes TEXT;
`;

const SQL_DOWN_TEMPLATE = `-- Reverts the migration of the same name.
-- ALTER TABLE accounts DROP COLUMN notes;
`;

/** `<UTC yyyymmddhhmmss>_<name>`: file-name order is apply order. */
export function migrationStamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Writes a new migration from a template; never overwrites a file. */
export async function runMake(options: MakeOptions): Promise<MakeReport> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(options.name)) {
    throw new GuardError('USAGE', `migration name "${options.name}" must be letters, digits, _ or - (e.g. add_account_notes)`);
  }
  await mkdir(options.migrationsDir, { recursive: true });
  const base = path.join(options.migrationsDir, `${migrationStamp(options.now ?? new Date())}_${options.name}`);
  const files: [string, string][] = options.sql
    ? [
        [`${base}.sql`, SQL_UP_TEMPLATE],
        [`${base}.down.sql`, SQL_DOWN_TEMPLATE],
      ]
    : [[`${base}.ts`, SCRIPT_TEMPLATE]];
  for (const [file, text] of files) {
    let handle;
    try {
      handle = await open(file, 'wx');
    } catch (error) {
      throw new GuardError('USAGE', `${file} already exists; pick another name`, { cause: error });
    }
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  return { command: 'make', ok: true, exitCode: 0, files: files.map(([file]) => file) };
}
