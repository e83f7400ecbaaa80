import { existsSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { REPO } from './project.ts';
import { watched } from './unexpected-errors.ts';

/**
 * The published package, as a user gets it: `npm pack` of a clean copy of the working tree (no
 * dist/, so `prepare` builds it, as for a git install), then `npm install <tarball>` into an app
 * of its own in a temp folder. One tarball per test file; as many apps as the file needs.
 */

/**
 * The environment of `npm test` tells a nested npm where the outer project is
 * (npm_config_local_prefix and friends): drop what npm exported so the nested npm works on the
 * folder it runs in, keeping the user's cache, registry and npmrc.
 */
export function cleanEnv(): Record<string, string | undefined> {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_') || keep.has(key)));
}

export interface RunOptions {
  /** Kills the process (and fails the result) after this long: for a process that must exit by itself. */
  readonly timeout?: number;
}

/** A process in the clean environment, plus `env`; never rejects, stdout and stderr also interleaved in `all`. */
export const run = (
  command: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string | undefined> = {},
  options: RunOptions = {},
) =>
  execa(command, [...args], {
    cwd,
    env: { ...cleanEnv(), ...env },
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    ...(options.timeout === undefined ? {} : { timeout: options.timeout, forceKillAfterDelay: 2_000 }),
  });

/** The installed CLI, as a user runs it from the app's folder: `npx --no migrate-guard …`. */
export const cli = (app: string, args: readonly string[], env: Record<string, string | undefined> = {}, options: RunOptions = {}) =>
  watched(args, run('npx', ['--no', 'migrate-guard', ...args], app, env, options));

export interface Tarball {
  /** The .tgz's absolute path. */
  readonly file: string;
  /** The paths inside the tarball, as `npm pack --json` lists them. */
  readonly files: readonly string[];
}

/** Tracked and new (not ignored) files, without dist/ or node_modules: what a clone holds. */
async function copyWorkingTree(to: string): Promise<void> {
  const listed = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO });
  for (const file of listed.stdout.split('\0')) {
    if (!file || file === 'node_modules' || !existsSync(path.join(REPO, file))) continue;
    await mkdir(path.dirname(path.join(to, file)), { recursive: true });
    await copyFile(path.join(REPO, file), path.join(to, file));
  }
  // For `prepare` (tsc and the types it compiles against).
  await symlink(path.join(REPO, 'node_modules'), path.join(to, 'node_modules'));
}

/** `npm pack` of a clean copy of the working tree (copied to `<work>/checkout`); the tarball lands in `work`. */
export async function packTarball(work: string): Promise<Tarball> {
  const checkout = path.join(work, 'checkout');
  await copyWorkingTree(checkout);
  // The real pack's --json lists the tarball's files exactly as `npm pack --dry-run --json` does.
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], checkout);
  expect(pack.exitCode, pack.all).toBe(0);
  const [packed] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  return { file: path.join(work, packed.filename), files: packed.files.map((file) => file.path) };
}

/** Creates `dir` with this package.json and installs the tarball into it (its dependencies too). */
export async function installApp(tarball: string, dir: string, packageJson: Record<string, unknown>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify(packageJson));
  // --ignore-scripts: with its install script sqlite3 compiles from source (a minute, more on a
  // loaded CI machine); the dependencies' scripts are not what this test is about. The repo's own
  // `npm ci` built the very same sqlite3 version for this Node on this machine, so its binary is
  // copied in; another version (a newer 6.x resolved here) is built for real.
  // migrate-guard itself has no install scripts. esbuild (under tsx) runs without its postinstall.
  const install = await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], dir);
  expect(install.exitCode, install.all).toBe(0);
  const version = (cwd: string) => run('node', ['-p', "require('./node_modules/sqlite3/package.json').version"], cwd).then((r) => r.stdout);
  if ((await version(dir)) === (await version(REPO))) {
    const binding = 'node_modules/sqlite3/build/Release/node_sqlite3.node';
    await mkdir(path.dirname(path.join(dir, binding)), { recursive: true });
    await copyFile(path.join(REPO, binding), path.join(dir, binding));
  } else {
    const rebuild = await run('npm', ['rebuild', 'sqlite3'], dir);
    expect(rebuild.exitCode, rebuild.all).toBe(0);
  }
}
