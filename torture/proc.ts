/**
 * Real processes: the CLI under test (any build: `--bin`), each in a process group of its own so
 * that what it started (Litestream) can be found after it was killed.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { ProjectPaths } from './fixture.ts';

export interface Result {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** Killed by the torture's own deadline: it hung. */
  readonly timedOut: boolean;
}

export interface Running {
  readonly pid: number;
  readonly args: readonly string[];
  readonly started: number;
  readonly done: Promise<Result>;
  /** Signals this process only (by its pid), never its group. */
  kill(signal: NodeJS.Signals): void;
  /** What it printed so far. */
  stdoutSoFar(): string;
  /** Resolves once stdout contains `text` (true), or the process ended or `ms` passed (false). */
  waitForOutput(text: string, ms: number): Promise<boolean>;
}

/** Where one run of the CLI finds things; the contract's environment variables. */
export interface Place {
  readonly project: ProjectPaths;
  /** TMPDIR for the CLI (scratch copies, decompression, drills). */
  readonly tmp?: string;
  readonly env?: Readonly<Record<string, string>>;
}

const DEADLINE_MS = 180_000;

export function startProcess(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; deadlineMs?: number },
): Running {
  const started = performance.now();
  const child = spawn(command, [...args], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.deadlineMs ?? DEADLINE_MS);
  const done = new Promise<Result>((resolve) => {
    child.on('error', (error) => {
      stderr += `spawn error: ${error.message}\n`;
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr, ms: Math.round(performance.now() - started), timedOut });
    });
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return {
    pid: child.pid,
    args,
    started,
    done,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stdoutSoFar: () => stdout,
    async waitForOutput(text, ms) {
      const deadline = performance.now() + ms;
      let ended = false;
      void done.then(() => (ended = true));
      while (!stdout.includes(text)) {
        if (ended || performance.now() > deadline) return false;
        await sleep(10);
      }
      return true;
    },
  };
}

export class Cli {
  constructor(readonly bin: string) {}

  env(place: Place): NodeJS.ProcessEnv {
    const { PATH, HOME, LANG } = process.env;
    return {
      PATH,
      HOME,
      LANG,
      CI: 'true',
      NODE_ENV: 'development',
      DATABASE_URL: place.project.db,
      BACKUP_DIR: place.project.backups,
      MIGRATIONS_DIR: place.project.migrations,
      ...(place.tmp ? { TMPDIR: place.tmp } : {}),
      ...place.env,
    };
  }

  start(place: Place | ProjectPaths, args: readonly string[], deadlineMs?: number): Running {
    const resolved = 'project' in place ? place : { project: place };
    return startProcess('node', [this.bin, ...args], {
      cwd: resolved.project.dir,
      env: this.env(resolved),
      ...(deadlineMs ? { deadlineMs } : {}),
    });
  }

  run(place: Place | ProjectPaths, args: readonly string[]): Promise<Result> {
    return this.start(place, args).done;
  }
}

/** The `--json` report on stdout, or null when there is none (killed, crashed). */
export function reportOf(result: Result): Record<string, any> | null {
  const text = result.stdout.trim();
  if (!text.startsWith('{')) return null;
  try {
    return JSON.parse(text) as Record<string, any>;
  } catch {
    return null;
  }
}

/** Processes still alive in the process group `pgid` (a killed CLI's children: Litestream, a hook). */
export async function survivors(pgid: number): Promise<{ pid: number; command: string }[]> {
  const found: { pid: number; command: string }[] = [];
  for (const name of await readdir('/proc').catch((): string[] => [])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || Number(fields[2]) !== pgid) continue;
    const command = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ').trim();
    found.push({ pid: Number(name), command });
  }
  return found;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function tail(text: string, lines = 12): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
