import type { DryRunReport } from '../commands/dry-run.ts';
import type { MigrateReport, RunFailure } from '../commands/migrate.ts';
import { withLockEnv } from '../config/schema.ts';
import { GuardError } from '../errors.ts';
import type { CommandContext, Refusal } from './command.ts';
import { formatPlan, formatRun } from './format.ts';
import type { Interrupt } from './interrupt.ts';

type Direction = 'up' | 'down';

/** What migrate and down share: the selection, --dry-run, --create. */
export interface GuardedRunArgs {
  readonly to?: string | undefined;
  readonly step?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly create?: boolean | undefined;
}

/** migrate and down, for real or as a dry run (which rehearses on a copy and takes no signal). */
export async function guardedRun(
  direction: Direction,
  args: GuardedRunArgs,
  { cli, locations, config: configured, output, signal }: CommandContext,
): Promise<MigrateReport | DryRunReport> {
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
  if (args.dryRun) {
    const { runDryRun } = await import('../commands/dry-run.ts');
    return runDryRun({ ...locations, config, direction, ...selection, onEvent });
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
