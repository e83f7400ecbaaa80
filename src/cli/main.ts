import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import dotenv from 'dotenv';
import { loadConfig } from '../config/load.ts';
import { resolveLocations, type LocationFlags } from '../config/locations.ts';
import { GuardError, messageOf, type ExitCode } from '../errors.ts';
import { createInterface } from 'node:readline/promises';
import { REQUESTABLE_KINDS, type BackupKind } from '../backup/kinds.ts';
import { formatBackup, formatBackups, formatDrill, formatHealth, formatPrune, formatRestore, formatRestoreTable, formatPlan, formatRun, formatStatus, formatVerify } from './format.ts';
import { Output, type OutputStreams } from './output.ts';

export interface CliEnvironment extends OutputStreams {
  readonly argv: readonly string[];
  /** For confirmation prompts; without a terminal there are none (as with --yes). */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Registers SIGINT/SIGTERM; returns a function that unregisters. */
  readonly onSignal?: (listener: (signal: NodeJS.Signals) => void) => () => void;
}

interface GlobalFlags extends LocationFlags {
  readonly json?: boolean;
  readonly yes?: boolean;
}

/**
 * "Now", for the commands that reason about age. MIGRATE_GUARD_NOW (ISO 8601) pins it, so a test
 * or an operator can ask "what would health / prune say at this time".
 */
function clock(env: NodeJS.ProcessEnv): Date {
  const pinned = env.MIGRATE_GUARD_NOW;
  if (!pinned) return new Date();
  const at = new Date(pinned);
  if (Number.isNaN(at.getTime())) throw new GuardError('USAGE', `MIGRATE_GUARD_NOW=${pinned} is not an ISO 8601 time`);
  return at;
}

async function askYesNo(cli: CliEnvironment, question: string): Promise<boolean> {
  const readline = createInterface({ input: cli.stdin!, output: cli.stderr });
  try {
    return /^y(es)?$/i.test((await readline.question(question)).trim());
  } finally {
    readline.close();
  }
}

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/**
 * Each command's code is loaded when that command runs: `migrate` with nothing pending, the common
 * case in a deploy, must not pay for loading knex, umzug and the rest of the toolbox.
 */
const commands = {
  migrate: () => import('../commands/migrate.ts'),
  dryRun: () => import('../commands/dry-run.ts'),
  status: () => import('../commands/status.ts'),
  make: () => import('../commands/make.ts'),
  backup: () => import('../commands/backup.ts'),
  backups: () => import('../commands/backups.ts'),
  verify: () => import('../commands/verify.ts'),
  health: () => import('../commands/health.ts'),
  prune: () => import('../commands/prune.ts'),
  restore: () => import('../commands/restore.ts'),
  restoreTable: () => import('../commands/restore-table.ts'),
  drill: () => import('../commands/drill.ts'),
  archive: () => import('../commands/archive.ts'),
  store: () => import('../backup/store.ts'),
};

/** argv → command → exit code. The only place that knows about flags, printing and exit codes. */
export async function main(cli: CliEnvironment): Promise<ExitCode> {
  // Like knex and most 12-factor tools: .env fills in what the environment does not already say.
  dotenv.config({ path: path.join(cli.cwd, '.env'), quiet: true, processEnv: cli.env as Record<string, string> });
  let exitCode: ExitCode = 0;
  let output = new Output(cli, false);
  let commandName = 'migrate-guard';

  const program = new Command('migrate-guard')
    .description('Guarded SQLite migrations: verified backup, migrations, checks, automatic restore.')
    .version(packageVersion)
    .option('--db <path or url>', 'the SQLite database (env DATABASE_URL)')
    .option('--migrations <dir>', 'migration files (env MIGRATIONS_DIR)')
    .option('--backup-dir <dir>', 'backups (env BACKUP_DIR)')
    .option('--config <file>', 'checks, hooks, retention (env MIGRATE_GUARD_CONFIG)')
    .option('--json', 'print one JSON report on stdout')
    .option('--yes', 'no confirmation prompts (implied without a terminal)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => cli.stdout.write(text),
      writeErr: (text) => cli.stderr.write(text),
    })
    .showHelpAfterError(false);

  const setup = async (command: Command) => {
    const flags = command.optsWithGlobals<GlobalFlags>();
    output = new Output(cli, flags.json === true);
    const locations = await resolveLocations(flags, cli.env, cli.cwd);
    const config = await loadConfig(locations.configFile);
    return { flags, locations, config };
  };

  const guardedRun = async (
    command: Command,
    direction: 'up' | 'down',
    options: { to?: string; step?: string; dryRun?: boolean; create?: boolean },
  ) => {
    commandName = direction === 'up' ? 'migrate' : 'down';
    const { locations, config } = await setup(command);
    const step = options.step === undefined ? undefined : Number(options.step);
    if (step !== undefined && (!Number.isInteger(step) || step < 1)) {
      throw new GuardError('USAGE', `--step ${options.step}: must be a whole number of migrations, 1 or more`);
    }
    if (step !== undefined && options.to !== undefined) {
      throw new GuardError('USAGE', '--to and --step say the same thing two ways; give one of them');
    }
    const selection = { ...(options.to === undefined ? {} : { to: options.to }), ...(step === undefined ? {} : { step }) };
    if (options.dryRun) {
      const { runDryRun } = await commands.dryRun();
      const report = await runDryRun({ ...locations, config, direction, ...selection, onEvent: (event) => output.event(event) });
      output.report(report, formatPlan(report));
      exitCode = report.exitCode;
      return;
    }
    const controller = new AbortController();
    let signals = 0;
    const unregister = cli.onSignal?.((signal) => {
      signals += 1;
      if (signals === 1) {
        output.line(`migrate-guard: ${signal} received: stopping after the current statement and restoring the backup; please wait`);
        controller.abort();
      } else {
        output.line('migrate-guard: still stopping; the database is being put back, do not kill this process');
      }
    });
    try {
      const { runMigrate } = await commands.migrate();
      const report = await runMigrate({
        ...locations,
        config,
        direction,
        ...selection,
        createIfMissing: options.create ?? cli.env.NODE_ENV !== 'production',
        signal: controller.signal,
        onEvent: (event) => output.event(event),
        cwd: cli.cwd,
      });
      output.report(report, formatRun(report));
      exitCode = report.exitCode;
    } finally {
      unregister?.();
    }
  };

  program
    .command('migrate')
    .description('apply pending migrations under the guard')
    .option('--to <name>', 'apply pending migrations up to and including <name>')
    .option('--dry-run', 'rehearse on a scratch copy and report; the database is not touched')
    .addOption(new Option('--create', 'create the database if it does not exist (default outside NODE_ENV=production)'))
    .action((options: { to?: string; dryRun?: boolean; create?: boolean }, command: Command) => guardedRun(command, 'up', options));

  program
    .command('down')
    .description('revert applied migrations with their down, under the same guard')
    .option('--to <name>', 'revert down to and including <name>')
    .option('--step <n>', 'revert the last <n> migrations (default 1)')
    .option('--dry-run', 'rehearse on a scratch copy and report; the database is not touched')
    .action((options: { to?: string; step?: string; dryRun?: boolean }, command: Command) =>
      guardedRun(command, 'down', { ...options, create: false }),
    );

  program
    .command('status')
    .description('applied and pending migrations; applied ones whose file changed')
    .action(async (_options: unknown, command: Command) => {
      commandName = 'status';
      const { locations } = await setup(command);
      const { runStatus } = await commands.status();
      const report = await runStatus(locations);
      output.report(report, formatStatus(report));
    });

  program
    .command('make')
    .description('write a new migration file from a template')
    .argument('<name>', 'what the migration does, e.g. add_account_notes')
    .option('--sql', 'write <name>.sql and <name>.down.sql instead of a .ts file')
    .action(async (name: string, options: { sql?: boolean }, command: Command) => {
      commandName = 'make';
      const { locations } = await setup(command);
      const { runMake } = await commands.make();
      const report = await runMake({ migrationsDir: locations.migrationsDir, name, sql: options.sql === true });
      output.report(report, report.files.map((file) => `migrate-guard: wrote ${file}`).join('\n'));
    });

  program
    .command('backup')
    .description('a verified backup, safe while the application writes')
    .addOption(new Option('--kind <kind>', 'backup kind').choices([...REQUESTABLE_KINDS]).default('manual'))
    .option('--compress', 'gzip the verified copy (default for daily, weekly, monthly)')
    .option('--no-compress', 'do not gzip, whatever the kind')
    .action(async (options: { kind: BackupKind; compress?: boolean }, command: Command) => {
      commandName = 'backup';
      const { locations, config } = await setup(command);
      const { runBackup } = await commands.backup();
      const report = await runBackup({
        ...locations,
        config,
        kind: options.kind,
        ...(options.compress === undefined ? {} : { compress: options.compress }),
        onProgress: (done, total) => output.event({ type: 'progress', task: 'backup', done, total }),
        onVerify: () => output.event({ type: 'step', message: 'verifying the backup (checksum, integrity_check of the whole copy)' }),
      });
      output.report(report, formatBackup(report));
    });

  program
    .command('backups')
    .description('list backups, newest first')
    .action(async (_options: unknown, command: Command) => {
      commandName = 'backups';
      const { locations } = await setup(command);
      const { runBackups } = await commands.backups();
      const report = await runBackups(locations);
      output.report(report, formatBackups(report));
    });

  program
    .command('verify')
    .description('check that a backup is restorable (exit 4 when it is not)')
    .argument('<backup>', 'a backup file, or its name in the backup folder')
    .action(async (backup: string, _options: unknown, command: Command) => {
      commandName = 'verify';
      const { locations } = await setup(command);
      const { resolveBackupArgument } = await commands.store();
      const { runVerify } = await commands.verify();
      const file = await resolveBackupArgument(backup, locations.backupDir, cli.cwd);
      const report = await runVerify({ backup: file, backupDir: locations.backupDir });
      output.report(report, formatVerify(report));
      exitCode = report.exitCode;
    });

  program
    .command('restore')
    .description('full restore into the live database, verified before and after')
    .argument('[backup]', 'a backup file, or its name in the backup folder')
    .option('--latest', 'the newest verified backup')
    .option('--to <time>', 'the newest verified backup at or before "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601')
    .action(async (backup: string | undefined, options: { latest?: boolean; to?: string }, command: Command) => {
      commandName = 'restore';
      const { flags, locations, config } = await setup(command);
      const { parseRestoreTime, runRestore } = await commands.restore();
      const { resolveBackupArgument } = await commands.store();
      const given = [backup !== undefined, options.latest === true, options.to !== undefined].filter(Boolean).length;
      if (given !== 1) throw new GuardError('USAGE', 'restore needs exactly one of: <backup>, --latest, --to "<time>"');
      const target =
        backup !== undefined
          ? { backup: await resolveBackupArgument(backup, locations.backupDir, cli.cwd) }
          : options.latest
            ? ({ latest: true } as const)
            : { at: parseRestoreTime(options.to!) };
      const interactive = cli.stdin?.isTTY === true && flags.yes !== true;
      const report = await runRestore({
        ...locations,
        config,
        target,
        cwd: cli.cwd,
        onEvent: (event) => output.event(event),
        ...(interactive ? { confirm: (summary: string) => askYesNo(cli, `${summary}\nRestore? [y/N] `) } : {}),
      });
      output.report(report, formatRestore(report));
      exitCode = report.exitCode;
    });

  program
    .command('restore-table')
    .description('selective restore of one table: SQL for review, or --apply')
    .argument('<backup>', 'a backup file, or its name in the backup folder')
    .argument('<table>', 'the table to restore')
    .option('--apply', "replace the live table's rows in one transaction")
    .option('--out <file>', 'where to write the SQL (default ./<table>-from-<backup>.sql)')
    .option('--force', 'apply even if foreign keys would be violated')
    .action(async (backup: string, table: string, options: { apply?: boolean; out?: string; force?: boolean }, command: Command) => {
      commandName = 'restore-table';
      const { locations } = await setup(command);
      const { runRestoreTable } = await commands.restoreTable();
      const { resolveBackupArgument } = await commands.store();
      const report = await runRestoreTable({
        ...locations,
        backup: await resolveBackupArgument(backup, locations.backupDir, cli.cwd),
        table,
        apply: options.apply === true,
        force: options.force === true,
        ...(options.out === undefined ? {} : { out: options.out }),
        cwd: cli.cwd,
      });
      output.report(report, formatRestoreTable(report));
      exitCode = report.exitCode;
    });

  program
    .command('drill')
    .description('restore test: the newest verified backup into a scratch database, timed (exit 4 on failure)')
    .argument('[backup]', 'a given backup instead of the newest verified one')
    .option('--from-archive', "drill from the WAL archive's latest point")
    .action(async (backup: string | undefined, options: { fromArchive?: boolean }, command: Command) => {
      commandName = 'drill';
      const { locations, config } = await setup(command);
      const { runDrill } = await commands.drill();
      const { resolveBackupArgument } = await commands.store();
      const report = await runDrill({
        backupDir: locations.backupDir,
        config,
        ...(backup === undefined ? {} : { backup: await resolveBackupArgument(backup, locations.backupDir, cli.cwd) }),
        ...(options.fromArchive ? { fromArchive: { database: locations.database } } : {}),
        onEvent: (event) => output.event(event),
      });
      output.report(report, formatDrill(report));
      exitCode = report.exitCode;
    });

  program
    .command('archive')
    .description('continuous WAL archiving with Litestream for point-in-time restore (runs until stopped)')
    .action(async (_options: unknown, command: Command) => {
      commandName = 'archive';
      const { locations, config } = await setup(command);
      const { runArchive } = await commands.archive();
      const controller = new AbortController();
      const unregister = cli.onSignal?.((signal) => {
        output.line(`migrate-guard: ${signal} received: stopping Litestream`);
        controller.abort();
      });
      try {
        const report = await runArchive({ ...locations, config, signal: controller.signal, onEvent: (event) => output.event(event) });
        output.report(report, 'migrate-guard: archiving stopped');
      } finally {
        unregister?.();
      }
    });

  program
    .command('prune')
    .description('apply the retention policy')
    .option('--dry-run', 'list what would be removed and why; remove nothing')
    .action(async (options: { dryRun?: boolean }, command: Command) => {
      commandName = 'prune';
      const { locations, config } = await setup(command);
      const { runPrune } = await commands.prune();
      const report = await runPrune({ backupDir: locations.backupDir, config, dryRun: options.dryRun === true, now: clock(cli.env) });
      output.report(report, formatPrune(report));
    });

  program
    .command('health')
    .description('monitoring: backup age, size changes, failed jobs, free space (exit 4 on alerts)')
    .action(async (_options: unknown, command: Command) => {
      commandName = 'health';
      const { locations, config } = await setup(command);
      const { runHealth } = await commands.health();
      const report = await runHealth({ ...locations, config, now: clock(cli.env), cwd: cli.cwd });
      output.report(report, formatHealth(report));
      exitCode = report.exitCode;
    });

  try {
    await program.parseAsync([...cli.argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return 0;
      // commander already printed the usage error on stderr; a pipeline asking for JSON still gets its object.
      if (cli.argv.includes('--json')) {
        const named = cli.argv.find((arg) => program.commands.some((command) => command.name() === arg));
        cli.stdout.write(
          `${JSON.stringify({ command: named ?? commandName, ok: false, exitCode: 1, error: { code: 'USAGE', message: error.message.replace(/^error: /, '') } }, null, 2)}\n`,
        );
      }
      return 1;
    }
    exitCode = error instanceof GuardError ? error.exitCode : 1;
    const code = error instanceof GuardError ? error.code : 'INTERNAL';
    const message = error instanceof GuardError ? error.message : `unexpected error: ${messageOf(error)}`;
    const backup = error instanceof GuardError && error.backup ? error.backup : null;
    // migrate and down promise their report keys to pipelines whatever happened.
    const runKeys =
      commandName === 'migrate' || commandName === 'down'
        ? {
            applied: [],
            pending: [],
            backup,
            restored: false,
            failed: { migration: null, phase: exitCode === 3 ? 'recovery' : 'refused', message },
            checks: [],
          }
        : {};
    output.report(
      {
        command: commandName,
        ok: false,
        exitCode,
        ...runKeys,
        error: { code, message, ...(backup ? { backup } : {}) },
      },
      `migrate-guard: ${exitCode === 3 ? 'CRITICAL ' : ''}${message}`,
    );
    if (!(error instanceof GuardError) && cli.env.MIGRATE_GUARD_DEBUG) cli.stderr.write(`${(error as Error).stack}\n`);
  }
  return exitCode;
}
