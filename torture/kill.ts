/**
 * Random kill -9: start a writing command (an application writer beside it), SIGKILL it after a
 * delay drawn over its whole run, sometimes SIGKILL the writer too (often inside a transaction),
 * sometimes SIGKILL the next run while it recovers; then the next run recovers and the invariants
 * must hold.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Case } from './case.ts';
import { RUNS_FOR_MS, runUntilStopped, type CommandSpec, type Reference } from './commands.ts';
import type { Templates } from './fixture.ts';
import { checkBackups, checkDatabase, checkNextMigrate, exists, type CheckOptions } from './invariants.ts';
import { sleep, type Cli, type Result, type Running } from './proc.ts';
import type { Rng } from './rng.ts';
import type { Pace, Writer } from './writer.ts';

export interface KillContext {
  readonly cli: Cli;
  readonly templates: Templates;
  readonly references: ReadonlyMap<string, Reference>;
  readonly checkerTmp: string;
}

/** Starts `args`, SIGKILLs it after `delay` ms unless it ended first; logs it either way. */
export async function killAfter(
  kase: Case,
  cli: Cli,
  label: string,
  args: readonly string[],
  delay: number,
): Promise<{ killed: boolean; exitCode: number | null }> {
  const running: Running = cli.start(kase.place, args);
  const ended = await Promise.race([running.done.then(() => true), sleep(delay).then(() => false)]);
  if (!ended) running.kill('SIGKILL');
  const result = await running.done;
  kase.log(label, running, result, ended ? null : Math.round(delay));
  if (!ended) await kase.reapOrphans(label, running);
  else noteFailure(kase, label, result);
  return { killed: !ended, exitCode: result.exitCode };
}

/**
 * For a kill that must land while the rollout changes the database: waits until the journal says
 * so (`migrating`, `checking`, or `grouped`), then draws the kill over what is left.
 */
async function killWhileChanging(kase: Case, cli: Cli, args: readonly string[], rng: Rng, budget: number): Promise<boolean> {
  const running = cli.start(kase.place, args);
  const journal = kase.engine.journalOf(kase.project);
  let ended = false;
  void running.done.then(() => (ended = true));
  const deadline = performance.now() + budget * 2;
  let seen = false;
  while (!ended && performance.now() < deadline) {
    const state = await readFile(journal, 'utf8').then(
      (text) => (JSON.parse(text) as { state: string }).state,
      () => null,
    );
    // `grouped`: inside a group's transaction, where the backup's catch-up and its proof run beside
    // the migrations (issue 18); a kill there must leave the database as it was.
    if (state === 'migrating' || state === 'checking' || state === 'grouped') {
      seen = true;
      break;
    }
    await sleep(5);
  }
  const delay = seen ? rng.between(0, 400) : 0;
  kase.params.firstKillAfterChange = seen ? Math.round(delay) : 'never changing';
  await Promise.race([running.done, sleep(delay)]);
  const killed = !ended;
  if (killed) running.kill('SIGKILL');
  const result = await running.done;
  kase.log('command (killed while changing)', running, result, killed ? Math.round(performance.now() - running.started) : null);
  if (killed) await kase.reapOrphans('command', running);
  else noteFailure(kase, 'command (killed while changing)', result);
  return killed;
}

/** A command the kill missed that failed on its own: no invariant says it may not, but why is worth a look. */
function noteFailure(kase: Case, label: string, result: Result): void {
  if (result.exitCode === 0 || result.exitCode === null) return;
  kase.notes.push(`${label} ended on its own with exit ${result.exitCode}: ${lastLine(result.stdout, result.stderr).slice(0, 300)}`);
}

/**
 * Starts the next run and SIGKILLs it `after` ms once it began to restore: its pre-restore copy
 * (temporary or in place) appeared where the engine keeps it (beside the database, or in the
 * backup folder for a server). Logged as run to its end when it never did.
 */
async function killWhenRestoring(kase: Case, cli: Cli, args: readonly string[], after: number): Promise<void> {
  const running = cli.start(kase.place, args);
  const { folder, prefix } = kase.engine.preRestoreWatch(kase.project);
  const copy = (name: string) => name.startsWith(prefix) || name.startsWith(`.${prefix}`);
  const before = new Set(await readdir(folder));
  let ended = false;
  void running.done.then(() => (ended = true));
  while (!ended && !(await readdir(folder)).some((name) => copy(name) && !before.has(name))) await sleep(2);
  if (!ended) await Promise.race([running.done, sleep(after)]);
  const killed = !ended;
  if (killed) running.kill('SIGKILL');
  kase.log(
    'recovery (killed while restoring)',
    running,
    await running.done,
    killed ? Math.round(performance.now() - running.started) : null,
  );
  if (killed) await kase.reapOrphans('recovery', running);
}

export async function killCase(kase: Case, spec: CommandSpec, context: KillContext, rng: Rng): Promise<void> {
  const { cli, templates, references } = context;
  const reference = references.get(spec.name)!;
  const project = await kase.engine.prepare(templates, spec, kase.dir);
  kase.place = { project, tmp: path.join(kase.dir, 'tmp') };
  await kase.engine.vary(project, rng, kase.params);
  kase.allowed.set('before', reference.before);
  kase.allowed.set('after', reference.after);
  const pace: Pace | 'none' = rng.weighted({ none: 1, calm: 1, busy: 1 });
  const recoveryKill = spec.recoveryRestores === true && rng.chance(0.3);
  const delay = rng.between(0, reference.ms);
  const writerCrashAt = pace !== 'none' && rng.chance(0.3) ? rng.between(0, reference.ms) : null;
  const writerThroughRecovery = rng.chance(0.5);
  const recoveryDelay = rng.between(0, reference.ms);
  // Half the recovery kills land while the next run restores (once its pre-restore copy appears).
  const recoveryAtRestore = rng.chance(0.5) ? rng.between(0, 80) : null;
  Object.assign(kase.params, { writer: pace, delay: Math.round(delay), referenceMs: reference.ms });
  if (writerCrashAt !== null) kase.params.writerSigkillAt = Math.round(writerCrashAt);
  if (recoveryKill)
    kase.params.recoveryKillAt =
      recoveryAtRestore === null ? Math.round(recoveryDelay) : `pre-restore copy + ${Math.round(recoveryAtRestore)}`;

  let writer: Writer | null = null;
  if (pace !== 'none') {
    kase.idsFile = path.join(kase.dir, 'writer-tags.txt');
    writer = await kase.engine.startWriter(project, kase.idsFile, `c${kase.index}`, rng.int(1, 1e9), pace);
  }
  const crashTimer =
    writerCrashAt === null
      ? null
      : setTimeout(() => {
          kase.params.writerKilled = true;
          void writer?.crash();
        }, writerCrashAt);
  try {
    const args = spec.args(templates, project);
    if (recoveryKill) {
      // Kill it where the next run has something to restore, then kill that run while it restores.
      await killWhileChanging(kase, cli, args, rng, reference.ms);
      if (recoveryAtRestore === null) await killAfter(kase, cli, 'recovery (killed)', recoveryArgs(spec, args), recoveryDelay);
      else await killWhenRestoring(kase, cli, recoveryArgs(spec, args), recoveryAtRestore);
    } else {
      await killAfter(kase, cli, 'command', args, delay);
    }
    if (crashTimer) clearTimeout(crashTimer);
    if (writer && !writerThroughRecovery) kase.params.writerStopped = await writer.stop();

    // The next run: it recovers what the killed one left, and must succeed.
    const recovery = spec.untilStopped
      ? await runUntilStopped(kase, cli, 'recovery', recoveryArgs(spec, args), RUNS_FOR_MS / 2)
      : (await kase.run(cli, 'recovery', recoveryArgs(spec, args))).result;
    if (recovery.exitCode !== 0) {
      const report = kase.processes.at(-1)!;
      kase.violate(
        'the next run after a kill succeeds',
        `${spec.recovery === 'migrate' ? 'migrate' : spec.name} exited ${recovery.exitCode}: ${lastLine(report.stdout, report.stderr)}`,
      );
    }
  } finally {
    if (crashTimer) clearTimeout(crashTimer);
    if (writer) kase.params.writerStopped ??= await writer.stop();
  }
  await settle(kase, context, spec, finalState(kase, spec));
}

/** What the next migrate must leave: a rollout's result, down's starting point, else either. */
export function finalState(kase: Case, spec: CommandSpec): Map<string, string> {
  const keep = spec.name.startsWith('migrate') ? 'after' : spec.name.startsWith('down') ? 'before' : null;
  return new Map([...kase.allowed].filter(([name]) => keep === null || name === keep));
}

/** The invariants after a case, then the next migrate. */
export async function settle(
  kase: Case,
  context: { cli: Cli; checkerTmp: string },
  spec: Pick<CommandSpec, 'recovery'> | null,
  final: ReadonlyMap<string, string>,
): Promise<void> {
  const options: CheckOptions = {
    cli: context.cli,
    checkerPlace: { project: kase.project, tmp: context.checkerTmp },
    stage: 'after the case',
  };
  if (spec?.recovery === 'migrate' && (await exists(kase.engine.journalOf(kase.project)))) {
    const last = kase.processes.at(-1);
    if (last && last.killedAt === null)
      kase.notes.push(
        `a journal is left after ${last.label} ended with exit ${last.exitCode} (the next run clears it as an interrupted run's)`,
      );
  }
  await checkDatabase(kase, 'after the case');
  await checkBackups(kase, options);
  // The next migrate finds nothing to do for most commands; for a rollout it brings the database
  // to the fully migrated state, for down back to where down started.
  await checkNextMigrate(kase, options, final);
}

export function recoveryArgs(spec: CommandSpec, args: readonly string[]): string[] {
  return spec.recovery === 'migrate' ? ['migrate', '--json'] : [...args];
}

export function lastLine(stdout: string, stderr: string): string {
  try {
    const report = JSON.parse(stdout) as { error?: { message?: string }; failed?: { message?: string }; restoreError?: string };
    return (
      [report.error?.message, report.failed?.message, report.restoreError].filter(Boolean).join(' / ') ||
      stderr.trim().split('\n').at(-1) ||
      ''
    );
  } catch {
    return stderr.trim().split('\n').at(-1) ?? '';
  }
}
