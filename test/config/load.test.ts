import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineConfig, loadConfig, resolveConfig } from '../../src/config/load.ts';
import { REPO, TempProject } from '../helpers/project.ts';
import { rejectionOf } from '../helpers/errors.ts';

const LOAD_MODULE = pathToFileURL(path.join(REPO, 'src/config/load.ts')).href;

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

async function configFile(name: string, source: string): Promise<string> {
  const file = path.join(project.dir, name);
  await writeFile(file, source);
  return file;
}

describe('loadConfig', () => {
  it('gives the defaults without a config file', async () => {
    expect(await loadConfig(null)).toEqual(resolveConfig({}));
  });

  it('loads a TypeScript config written with defineConfig, defaults filled in', async () => {
    const file = await configFile(
      'migrate-guard.config.ts',
      `import { defineConfig } from ${JSON.stringify(LOAD_MODULE)};
       const hours: number = 48;
       export default defineConfig({
         health: { maxAgeHours: hours },
         checks: { custom: [{ name: 'always-fine', run: async () => undefined }] },
       });`,
    );
    const config = await loadConfig(file);
    expect(config.health).toEqual({ maxAgeHours: 48, sizeChangePercent: 20, drillMaxAgeDays: 35, scrubMaxAgeHours: 26 });
    expect(config.checks.custom.map((check) => check.name)).toEqual(['always-fine']);
    expect(typeof config.checks.custom[0]!.run).toBe('function');
    expect(config.retention).toEqual(resolveConfig({}).retention);
  });

  it('loads ESM and CommonJS JavaScript configs', async () => {
    const esm = await configFile('esm.config.mjs', `export default { thresholds: { freeSpaceFactor: 3 } };`);
    const cjs = await configFile('cjs.config.cjs', `module.exports = { backups: { compress: { hot: true } } };`);
    const js = await configFile('plain.config.js', `export default { checks: { integrity: 'off' } };`);
    expect((await loadConfig(esm)).thresholds.freeSpaceFactor).toBe(3);
    expect((await loadConfig(cjs)).backups.compress).toEqual({ daily: true, weekly: true, monthly: true, hot: true });
    expect((await loadConfig(js)).checks.integrity).toBe('off');
  });

  it('refuses a config whose content is invalid, naming the file and the key', async () => {
    const file = await configFile('migrate-guard.config.ts', `export default { health: { maxAgeHours: 'soon' } };`);
    const error = await rejectionOf(loadConfig(file));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(file);
    expect(error.message).toContain('health.maxAgeHours');
  });

  it('refuses a config that cannot be loaded, keeping the cause', async () => {
    const file = await configFile('migrate-guard.config.ts', `throw new Error('config exploded');\nexport default {};`);
    const error = await rejectionOf(loadConfig(file));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('config exploded');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('refuses a config file that does not exist', async () => {
    await expect(loadConfig(path.join(project.dir, 'nope.config.ts'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('defineConfig returns what it is given', () => {
    const given = { health: { maxAgeHours: 1 } };
    expect(defineConfig(given)).toBe(given);
  });
});
