/** One torture case: what it drew, what ran, what broke. */
import { cp, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TortureEngine } from './engine.ts';
import type { ProjectPaths } from './fixture.ts';
import { projectPaths } from './fixture.ts';
import type { Cli, Place, Result, Running } from './proc.ts';
import { reportOf, survivors, tail } from './proc.ts';

export type Kind = 'kill' | 'disk' | 'concurrency';
export const KINDS: readonly Kind[] = ['kill', 'disk', 'concurrency'];

export interface ProcessLog {
  readonly label: string;
  /** Its OS pid (a scratch database's name holds the pid of the run that made it). */
  readonly pid: number;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly ms: number;
  /** When the torture sent SIGKILL, ms after the start; null when it ran to its end. */
  readonly killedAt: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Violation {
  readonly invariant: string;
  readonly detail: string;
}

export class Case {
  readonly processes: ProcessLog[] = [];
  readonly violations: Violation[] = [];
  /** Findings that break no invariant but someone should see (leftover files, orphan processes). */
  readonly notes: string[] = [];
  /** What the case drew, printed with any violation. */
  readonly params: Record<string, unknown> = {};
  /** Content hashes the database may have, by name (before, after). */
  readonly allowed = new Map<string, string>();
  idsFile: string | null = null;
  place!: Place;

  constructor(
    readonly index: number,
    readonly kind: Kind,
    readonly command: string,
    readonly dir: string,
    readonly engine: TortureEngine,
  ) {}

  get project(): ProjectPaths {
    return this.place.project;
  }

  violate(invariant: string, detail: string): void {
    this.violations.push({ invariant, detail });
  }

  /** Records a finished process; returns its result and --json report. */
  log(
    label: string,
    running: Running,
    result: Result,
    killedAt: number | null = null,
  ): { result: Result; report: Record<string, any> | null } {
    this.processes.push({
      label,
      pid: running.pid,
      args: running.args.slice(1),
      exitCode: result.exitCode,
      signal: result.signal,
      ms: result.ms,
      killedAt,
      stdout: compact(result.stdout),
      stderr: tail(result.stderr, 25),
    });
    if (result.timedOut)
      this.violate('no process hangs', `${label} (${running.args.slice(1).join(' ')}) ran past the deadline and was killed`);
    // "unexpected error" is migrate-guard's own bug: no case, however hostile, may produce one.
    const unexpected = `${result.stdout}\n${result.stderr}`.split('\n').find((line) => /unexpected error/i.test(line));
    if (unexpected !== undefined)
      this.violate('no unexpected error (a bug of migrate-guard)', `${label} (${running.args.slice(1).join(' ')}): ${unexpected.trim()}`);
    return { result, report: reportOf(result) };
  }

  /** Runs the CLI to its end and logs it. */
  async run(
    cli: Cli,
    label: string,
    args: readonly string[],
    place: Place = this.place,
  ): Promise<{ result: Result; report: Record<string, any> | null }> {
    const running = cli.start(place, args);
    return this.log(label, running, await running.done);
  }

  /**
   * Kills what a SIGKILLed CLI left running in its process group (Litestream under `archive`),
   * by pid, and says so: the next run must not have to share the database with an orphan.
   */
  async reapOrphans(label: string, running: Running): Promise<void> {
    const left = await survivors(running.pid);
    for (const orphan of left) {
      this.notes.push(`${label}: SIGKILL left pid ${orphan.pid} running (${orphan.command.slice(0, 120)}); the torture killed it`);
      try {
        process.kill(orphan.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  describe(): string {
    return `case ${this.index} ${this.kind}/${this.command} ${JSON.stringify(this.params)}`;
  }
}

/** A --json report on one line (long lists cut), or the tail of whatever else was printed. */
function compact(stdout: string): string {
  try {
    const text = JSON.stringify(JSON.parse(stdout));
    return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  } catch {
    return tail(stdout, 40);
  }
}

/** A fresh copy of a template for one case, under `root`. */
export async function copyProject(template: ProjectPaths, dir: string): Promise<ProjectPaths> {
  await rm(dir, { recursive: true, force: true });
  await cp(template.dir, dir, { recursive: true });
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  const project = projectPaths(dir);
  await adoptManifests(template, project);
  return project;
}

/**
 * A case's project is a copy of a template, database and backups together. Manifests record the
 * database they were taken of by its real path (a backup of another database is refused), so the
 * copied ones are told they belong to the copy, as each case's database is that database moved.
 */
async function adoptManifests(template: ProjectPaths, project: ProjectPaths): Promise<void> {
  const from = await realpath(template.db).catch(() => null);
  const to = await realpath(project.db).catch(() => null);
  if (from === null || to === null) return;
  const files = (await readdir(project.dir, { recursive: true })).filter((name) => name.endsWith('.manifest.json'));
  for (const name of files) {
    const file = path.join(project.dir, name);
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { identity?: { path?: string | null } | null };
    if (manifest.identity?.path !== from) continue;
    manifest.identity = { ...manifest.identity, path: to };
    await writeFile(file, JSON.stringify(manifest, null, 2));
  }
}
