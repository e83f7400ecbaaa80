import { loadConfig } from '../config/load.ts';
import { resolveLocations, type Locations } from '../config/locations.ts';
import { withBackupEnv, type ResolvedConfig } from '../config/schema.ts';
import { statePaths } from '../config/state-paths.ts';
import { configureEngines, engineDiskFull, engineIoError, isDatabaseBusy } from '../engines/registry.ts';
import { requireTrustedPaths } from '../fs/trust.ts';
import { GuardError, isDiskFull, isIoError, messageOf, type ExitCode } from '../errors.ts';
import { redactText } from '../redact.ts';
import type { AnyCommand, CliEnvironment, GlobalFlags, Invocation, Refusal } from './command.ts';
import { listenForInterrupt } from './interrupt.ts';
import { Output } from './output.ts';
import { packageVersion } from './version.ts';

/**
 * Parsed arguments → run → print → exit code, the same for every command. A failure becomes a
 * refusal report here, so commands only ever describe success and their own checks.
 */
export async function runCommand({ command, args, flags }: Invocation, cli: CliEnvironment): Promise<ExitCode> {
  const output = new Output(cli, flags.json === true);
  try {
    const located = await resolveLocations(flags, cli.env, cli.cwd);
    const config = withBackupEnv(await loadConfig(located.configFile), cli.env);
    // The config's directUrl comes last, as a knexfile's connection does for the database.
    const locations = located.directUrl === null && config.directUrl !== null ? { ...located, directUrl: config.directUrl } : located;
    await checkStatePaths(command, flags, cli, locations, config);
    configureEngines({ config, warn: (message) => output.event({ type: 'warning', message }) });
    const interrupt = listenForInterrupt(cli, output, command.interrupt?.(args) ?? null);
    try {
      const report = await command.run(args, { cli, flags, locations, config, output, signal: interrupt.signal });
      output.report(report, command.format(report));
      return report.exitCode;
    } finally {
      interrupt.stop();
    }
  } catch (error) {
    return refuse(command, error, output, cli);
  }
}

/**
 * A GuardError keeps its exit code and code, and a mistake in a project's file its place (`file`,
 * `line`, `column` in the JSON; the offending line under the message for humans). Anything else
 * is exit 1: a full disk or a disk's I/O error named as such (a step without a refusal of its own
 * ran out of space or hit a failing disk), the rest migrate-guard's own bug, said so: "unexpected
 * error" is never the user's mistake.
 */
function refuse(command: AnyCommand, error: unknown, output: Output, cli: CliEnvironment): ExitCode {
  const guardError =
    error instanceof GuardError
      ? error
      : isDiskFull(error, engineDiskFull)
        ? diskFull(error)
        : isDatabaseBusy(error)
          ? databaseBusy(error)
          : isIoError(error, engineIoError)
            ? ioError(error)
            : null;
  const exitCode = guardError?.exitCode ?? 1;
  const code = guardError?.code ?? 'INTERNAL';
  const message = guardError ? guardError.message : unexpected(error);
  const backup = guardError?.backup || null;
  const location = guardError?.location;
  const refusal: Refusal = { exitCode, message, backup, pending: guardError?.pending ?? null };
  output.report(
    {
      command: command.name,
      ok: false,
      exitCode,
      ...command.refusalKeys?.(refusal),
      error: {
        code,
        message,
        ...(backup ? { backup } : {}),
        ...(location ? { file: location.file, line: location.line, column: location.column } : {}),
      },
    },
    `migrate-guard: ${exitCode === 3 ? 'CRITICAL ' : ''}${message}${guardError?.context ? `\n${guardError.context}` : ''}`,
  );
  if (!guardError && cli.env.MIGRATE_GUARD_DEBUG) cli.stderr.write(`${redactText(String((error as Error).stack))}\n`);
  return exitCode;
}

/** A busy database met past the first open's wait (which refuses with DATABASE_BUSY itself). */
function databaseBusy(error: unknown): GuardError {
  return new GuardError(
    'DATABASE_BUSY',
    `the database was busy (${messageOf(error)}): another connection held it or was recovering it; run the command again`,
    { cause: error },
  );
}

/** A failure migrate-guard did not foresee: its bug, to be reported with its version. */
function unexpected(error: unknown): string {
  return `unexpected error in migrate-guard ${packageVersion}: ${messageOf(error)}; this is a bug in migrate-guard, not a mistake in your project: please report it with this output (MIGRATE_GUARD_DEBUG=1 prints the stack)`;
}

function ioError(error: unknown): GuardError {
  return new GuardError(
    'IO_ERROR',
    `the disk reported an I/O error (${messageOf(error)}): check the disk (dmesg) and the free space where the database, the backup folder and TMPDIR live, then run the command again`,
    { cause: error },
  );
}

function diskFull(error: unknown): GuardError {
  return new GuardError(
    'DISK_FULL',
    `out of disk space (${messageOf(error)}): free space where the database, the backup folder and TMPDIR live, then run the command again`,
    { cause: error },
  );
}

/** `make` writes a migration file only: it reads no backup and no state. */
const WITHOUT_STATE: ReadonlySet<string> = new Set(['make']);

/**
 * The backup folder and the state files must be ours (see fs/trust.ts), unless flag, environment or
 * config accept the risk.
 */
async function checkStatePaths(
  command: AnyCommand,
  flags: GlobalFlags,
  cli: CliEnvironment,
  locations: Locations,
  config: ResolvedConfig,
): Promise<void> {
  if (WITHOUT_STATE.has(command.name)) return;
  const optOut =
    flags.allowInsecureDirs === true || /^(1|true|yes)$/i.test(cli.env.MIGRATE_GUARD_ALLOW_INSECURE_DIRS ?? '') || config.allowInsecureDirs;
  if (optOut) return;
  await requireTrustedPaths(await statePaths(locations.database, locations.backupDir, locations.engine));
}
