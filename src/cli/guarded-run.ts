import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { DryRunReport } from '../commands/dry-run.ts';
import type { MigrateReport, RunFailure } from '../commands/migrate.ts';
import { withLockEnv } from '../config/schema.ts';
import { GuardError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { redactText } from '../redact.ts';
import { FAIL_ON, type FailOn } from '../review/fail-on.ts';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../review/render.ts';
import { backupFile } from './backup-argument.ts';
import { packageVersion } from './version.ts';
import type { CommandContext, Refusal } from './command.ts';
import { formatPlan } from '../review/formats/text.ts';
import { formatRun } from './format.ts';
import type { Interrupt } from './interrupt.ts';

type Direction = 'up' | 'down';

/** What migrate and down share: the selection, --dry-run and its report, --create. */
export interface GuardedRunArgs {
  readonly to?: string | undefined;
  readonly step?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly create?: boolean | undefined;
  readonly format?: ReportFormat | undefined;
  readonly output?: string | undefined;
  readonly failOn?: FailOn | undefined;
  readonly fromBackup?: string | undefined;
}

/** The dry run's report flags, declared once for migrate and down. */
export const DRY_RUN_ARGS = {
  format: {
    type: 'enum',
    valueHint: 'format',
    options: REPORT_FORMATS,
    default: 'text',
    description: 'with --dry-run: the report as text, json, markdown, sarif, junit or github (workflow annotations)',
  },
  output: {
    type: 'string',
    valueHint: 'file',
    description: 'with --dry-run: write the --format report to <file> (atomically) instead of stdout',
  },
  failOn: {
    type: 'enum',
    valueHint: 'level',
    options: FAIL_ON,
    default: 'failure',
    description:
      'with --dry-run: exit 1 also on findings: warning (any), error (error rules), never; default: only when a migration or check would fail',
  },
  fromBackup: {
    type: 'string',
    valueHint: 'file|latest',
    description: 'with --dry-run: rehearse on a stored verified backup (a file, or latest) instead of the live database',
  },
} as const;

/** migrate and down, for real or as a dry run (which rehearses on a copy and takes no signal). */
export async function guardedRun(
  direction: Direction,
  args: GuardedRunArgs,
  context: CommandContext,
): Promise<MigrateReport | DryRunReport> {
  const { cli, flags, locations, config: configured, output, signal } = context;
  const step = args.step === undefined ? undefined : Number(args.step);
  if (step !== undefined && (!Number.isInteger(step) || step < 1)) {
    throw new GuardError('USAGE', `--step ${args.step}: must be a whole number of migrations, 1 or more`);
  }
  if (step !== undefined && args.to !== undefined) {
    throw new GuardError('USAGE', '--to and --step say the same thing two ways; give one of them');
  }
  const selection = { ...(args.to === undefined ? {} : { to: args.to }), ...(step === undefined ? {} : { step }) };
  const onEvent = output.event.bind(output);
  const config = withLockEnv(configured, cli.env);
  const format = args.format ?? 'text';
  if (!args.dryRun) {
    const given = [
      format !== 'text' && '--format',
      args.output !== undefined && '--output',
      (args.failOn ?? 'failure') !== 'failure' && '--fail-on',
      args.fromBackup !== undefined && '--from-backup',
    ].filter(Boolean);
    if (given.length > 0)
      throw new GuardError('USAGE', `${given.join(', ')} describe(s) a dry run's report; add --dry-run, or leave them out`);
  }
  if (args.dryRun) {
    if (flags.json === true && format !== 'json' && format !== 'text' && args.output === undefined) {
      throw new GuardError('USAGE', `--json and --format ${format} both write to stdout; give --output <file> for the ${format} report`);
    }
    const { runDryRun } = await import('../commands/dry-run.ts');
    const fromBackup =
      args.fromBackup === undefined || args.fromBackup === 'latest' ? args.fromBackup : await backupFile(args.fromBackup, context);
    const report = await runDryRun({
      ...locations,
      config,
      direction,
      ...selection,
      onEvent,
      cwd: cli.cwd,
      failOn: args.failOn ?? 'failure',
      ...(fromBackup === undefined ? {} : { fromBackup, backupDir: locations.backupDir }),
    });
    await publishDryRun(report, format, args.output, context);
    return report;
  }
  const { runMigrate } = await import('../commands/migrate.ts');
  return runMigrate({
    ...locations,
    config,
    direction,
    ...selection,
    createIfMissing: args.create ?? cli.env.NODE_ENV !== 'production',
    signal,
    onEvent,
    cwd: cli.cwd,
  });
}

export const formatGuardedRun = (report: MigrateReport | DryRunReport): string | null =>
  'dryRun' in report ? formatPlan(report) : formatRun(report);

/** A dry run touches nothing, so a signal may end it at once; a real run must restore first. */
export const guardedRunInterrupt = (args: GuardedRunArgs): Interrupt | null => (args.dryRun ? null : 'rollout');

/** migrate and down promise their report keys to pipelines whatever happened. */
export function guardedRunRefusalKeys({ exitCode, message, backup, pending }: Refusal) {
  const failed: RunFailure = { migration: null, phase: exitCode === 3 ? 'recovery' : 'refused', message };
  return { applied: [], pending: pending ?? [], backup, restored: false, failed, checks: [] };
}

/**
 * Where a dry run's report goes besides the terminal: the --format report to --output (written
 * atomically) or to stdout (text and json stay where they always were: stderr, and stdout with
 * --json); the markdown appended to GITHUB_STEP_SUMMARY when set (the runner's job summary); and
 * under GitHub Actions, the findings as annotations on stderr unless --format github prints them.
 */
async function publishDryRun(report: DryRunReport, format: ReportFormat, file: string | undefined, { cli, flags, output }: CommandContext) {
  const render = (as: ReportFormat) => redactText(renderReport(report, as, packageVersion));
  if (file !== undefined) {
    // Readable by the CI steps that upload it, as any build output.
    await writeFileAtomic(path.resolve(cli.cwd, file), render(format), 0o644);
  } else if (format !== 'text' && !(format === 'json' && flags.json === true)) {
    cli.stdout.write(render(format));
  }
  const summary = cli.env.GITHUB_STEP_SUMMARY;
  if (summary) await appendFile(path.resolve(cli.cwd, summary), `${render('markdown')}\n`);
  if (cli.env.GITHUB_ACTIONS === 'true' && format !== 'github') {
    const annotations = render('github');
    if (annotations) for (const line of annotations.trimEnd().split('\n')) output.line(line);
  }
}
