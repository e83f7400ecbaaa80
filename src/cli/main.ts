import path from 'node:path';
import { Command, CommanderError } from 'commander';
import dotenv from 'dotenv';
import type { ExitCode } from '../errors.ts';
import { redactText } from '../redact.ts';
import type { AnyCommand, CliEnvironment, Invocation } from './command.ts';
import { addCommand } from './program.ts';
import { runCommand } from './run-command.ts';
import { packageVersion } from './version.ts';
import { archive } from './commands/archive.ts';
import { backup } from './commands/backup.ts';
import { backups } from './commands/backups.ts';
import { baseline } from './commands/baseline.ts';
import { down } from './commands/down.ts';
import { drill } from './commands/drill.ts';
import { health } from './commands/health.ts';
import { make } from './commands/make.ts';
import { migrate } from './commands/migrate.ts';
import { prune } from './commands/prune.ts';
import { restoreTable } from './commands/restore-table.ts';
import { restore } from './commands/restore.ts';
import { status } from './commands/status.ts';
import { verify } from './commands/verify.ts';

export type { CliEnvironment } from './command.ts';

/** In the order `--help` lists them. */
const commands: readonly AnyCommand[] = [
  migrate,
  down,
  status,
  make,
  baseline,
  backup,
  backups,
  verify,
  restore,
  restoreTable,
  drill,
  archive,
  prune,
  health,
];

/** argv → command → exit code. The only place that knows about argv and commander's usage errors. */
export async function main(cli: CliEnvironment): Promise<ExitCode> {
  // Like knex and most 12-factor tools: .env fills in what the environment does not already say.
  dotenv.config({ path: path.join(cli.cwd, '.env'), quiet: true, processEnv: cli.env as Record<string, string> });

  const program = new Command('migrate-guard')
    .description('Guarded SQLite migrations: verified backup, migrations, checks, automatic restore.')
    .version(packageVersion)
    .option('--db <path or url>', 'the SQLite database (env DATABASE_URL)')
    .option('--direct-url <url>', "PostgreSQL behind a pooler: the server's own URL, used for every connection (env DIRECT_URL)")
    .option('--migrations <dir>', 'migration files (env MIGRATIONS_DIR)')
    .option('--backup-dir <dir>', 'backups (env BACKUP_DIR)')
    .option('--config <file>', 'checks, hooks, retention (env MIGRATE_GUARD_CONFIG)')
    .option('--json', 'print one JSON report on stdout')
    .option('--yes', 'no confirmation prompts (implied without a terminal)')
    .option('--allow-insecure-dirs', 'use a backup folder or state file other accounts can write (env MIGRATE_GUARD_ALLOW_INSECURE_DIRS=1)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => cli.stdout.write(text),
      writeErr: (text) => cli.stderr.write(text),
    })
    .showHelpAfterError(false);

  // Commander hands over what it parsed through an action callback; the run happens after parsing.
  const invocations: Invocation[] = [];
  for (const command of commands) addCommand(program, command, (invocation) => invocations.push(invocation));

  try {
    await program.parseAsync([...cli.argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return 0;
    // commander already printed the usage error on stderr; a pipeline asking for JSON still gets its object.
    if (cli.argv.includes('--json')) {
      const named = cli.argv.find((arg) => commands.some((command) => command.name === arg));
      const message = redactText(error.message.replace(/^error: /, ''));
      cli.stdout.write(
        `${JSON.stringify({ command: named ?? 'migrate-guard', ok: false, exitCode: 1, error: { code: 'USAGE', message } }, null, 2)}\n`,
      );
    }
    return 1;
  }
  const [invocation] = invocations;
  return invocation ? runCommand(invocation, cli) : 0;
}
