/**
 * The writing commands the torture runs, each on its own starting point, and their reference
 * runs: once per torture run, without a kill, for the time a kill is drawn over and for the
 * content the command means to produce.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Case } from './case.ts';
import type { TortureEngine } from './engine.ts';
import type { MigrationSet, ProjectPaths, Templates } from './fixture.ts';
import { sleep, type Cli, type Result } from './proc.ts';

export interface CommandSpec {
  /** The label cases are counted under. */
  readonly name: string;
  /** Which template the case starts from. */
  readonly template: 'base' | MigrationSet;
  /** Pending migrations written into the case's folder. */
  readonly pending?: MigrationSet;
  args(templates: Templates, project: ProjectPaths): string[];
  /** It changes the database's content (the reference run says to what). */
  readonly changes: boolean;
  /** How the next run after a kill goes: the same command, or `migrate` (which recovers a rollout). */
  readonly recovery: 'same' | 'migrate';
  /** Runs until stopped (archive): "its run" is `RUNS_FOR_MS`, then SIGTERM. */
  readonly untilStopped?: boolean;
  /** Its recovery restores a backup, so a kill during that recovery is worth drawing. */
  readonly recoveryRestores?: boolean;
}

export const RUNS_FOR_MS = 3000;

/**
 * The case's own manual backup (plain), or its first daily one (compressed): found in the case's
 * folder, as a server's backups are named by the case's database.
 */
const backupArg = (_templates: Templates, project: ProjectPaths, which: 'manualBackup' | 'dailyBackup') => {
  const folder = path.join(project.backups, which === 'manualBackup' ? 'manual' : 'daily');
  const pattern = which === 'manualBackup' ? /^[^.].*\.(db|dump)$/ : /^[^.].*\.(db|dump)\.gz$/;
  const name = readdirSync(folder)
    .filter((entry) => pattern.test(entry))
    .sort()[0];
  if (name === undefined) throw new Error(`no ${which} in ${folder}`);
  return path.join(folder, name);
};

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'migrate(group)',
    template: 'base',
    pending: 'group',
    args: () => ['migrate', '--json'],
    changes: true,
    recovery: 'migrate',
    recoveryRestores: true,
  },
  {
    name: 'migrate(per-migration)',
    template: 'base',
    pending: 'per-migration',
    args: () => ['migrate', '--json'],
    changes: true,
    recovery: 'migrate',
    recoveryRestores: true,
  },
  {
    name: 'down(group)',
    template: 'group',
    args: () => ['down', '--step', '2', '--json'],
    changes: true,
    recovery: 'migrate',
    recoveryRestores: true,
  },
  {
    name: 'down(per-migration)',
    template: 'per-migration',
    args: () => ['down', '--step', '3', '--json'],
    changes: true,
    recovery: 'migrate',
    recoveryRestores: true,
  },
  { name: 'backup', template: 'base', args: () => ['backup', '--json'], changes: false, recovery: 'same' },
  { name: 'backup --compress', template: 'base', args: () => ['backup', '--compress', '--json'], changes: false, recovery: 'same' },
  {
    name: 'restore',
    template: 'base',
    args: (t, p) => ['restore', backupArg(t, p, 'manualBackup'), '--yes', '--json'],
    changes: true,
    recovery: 'same',
    recoveryRestores: true,
  },
  {
    name: 'restore(gz)',
    template: 'base',
    args: (t, p) => ['restore', backupArg(t, p, 'dailyBackup'), '--yes', '--json'],
    changes: true,
    recovery: 'same',
    recoveryRestores: true,
  },
  {
    name: 'restore-table --apply',
    template: 'base',
    args: (t, p) => ['restore-table', backupArg(t, p, 'manualBackup'), 'orders', '--apply', '--json'],
    changes: true,
    recovery: 'same',
  },
  { name: 'prune', template: 'base', args: () => ['prune', '--json'], changes: false, recovery: 'same' },
  { name: 'drill', template: 'base', args: () => ['drill', '--json'], changes: false, recovery: 'same' },
  { name: 'archive', template: 'base', args: () => ['archive', '--json'], changes: false, recovery: 'same', untilStopped: true },
];

export function commandNamed(name: string): CommandSpec {
  const spec = COMMANDS.find((candidate) => candidate.name === name);
  if (!spec) throw new Error(`no command ${name}`);
  return spec;
}

export interface Reference {
  readonly ms: number;
  /** Content hashes before and after the command. */
  readonly before: string;
  readonly after: string;
}

/** Runs a long-running command for `RUNS_FOR_MS`, then stops it as an operator would (SIGTERM). */
export async function runUntilStopped(kase: Case, cli: Cli, label: string, args: readonly string[], forMs: number): Promise<Result> {
  const running = cli.start(kase.place, args);
  await Promise.race([sleep(forMs), running.done]);
  running.kill('SIGTERM');
  return kase.log(label, running, await running.done).result;
}

/** One clean run of every command: how long it takes, and what it changes. */
export async function referenceRuns(
  cli: Cli,
  engine: TortureEngine,
  templates: Templates,
  root: string,
  skip: ReadonlySet<string>,
): Promise<Map<string, Reference>> {
  const references = new Map<string, Reference>();
  for (const spec of COMMANDS) {
    if (skip.has(spec.name) || !engine.commands.includes(spec.name)) continue;
    const dir = path.join(root, `reference-${spec.name.replace(/[^a-z0-9]+/gi, '-')}`);
    const project = await engine.prepare(templates, spec, dir);
    const kase = new Case(-1, 'kill', spec.name, dir, engine);
    kase.place = { project, tmp: path.join(dir, 'tmp') };
    try {
      references.set(spec.name, await referenceRun(cli, engine, templates, kase, spec));
    } finally {
      await engine.dispose(project);
    }
  }
  return references;
}

async function referenceRun(cli: Cli, engine: TortureEngine, templates: Templates, kase: Case, spec: CommandSpec): Promise<Reference> {
  const project = kase.project;
  const before = await engine.contentHash(project);
  const args = spec.args(templates, project);
  const started = performance.now();
  const result = spec.untilStopped
    ? await runUntilStopped(kase, cli, 'reference', args, RUNS_FOR_MS)
    : (await kase.run(cli, 'reference', args)).result;
  const ms = spec.untilStopped ? RUNS_FOR_MS : Math.round(performance.now() - started);
  if (result.exitCode !== 0) throw new Error(`reference run of ${spec.name} exited ${result.exitCode}: ${result.stderr.slice(-1200)}`);
  const after = await engine.contentHash(project);
  if (spec.changes === (before === after))
    throw new Error(`reference run of ${spec.name} ${spec.changes ? 'changed nothing' : 'changed the content'}`);
  return { ms, before, after };
}
