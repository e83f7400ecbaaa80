import { execa } from 'execa';
import { REPO } from './project.ts';

/**
 * vitest globalSetup: the CLI tests run bin/migrate-guard.js, which runs the compiled dist/, so
 * every `vitest run` (through `npm test` or directly) builds the current sources first (a few
 * seconds). In watch mode, restart vitest after changing src/ for the CLI tests to see it.
 */
export default async function build(): Promise<void> {
  await execa('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
}
