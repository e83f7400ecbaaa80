import path from 'node:path';
import * as v from 'valibot';
import { GuardError } from '../errors.ts';
import { loadProjectDefault } from '../load-module.ts';
import { configSchema, type GuardConfig, type ResolvedConfig } from './schema.ts';

/** Typed helper for `migrate-guard.config.ts`: `export default defineConfig({ … })`. */
export function defineConfig(config: GuardConfig): GuardConfig {
  return config;
}

/** Validates a config object and fills in the defaults. One readable line per problem. */
export function resolveConfig(input: unknown, source = 'config'): ResolvedConfig {
  // valibot takes an array for an object; a config is never one.
  if (Array.isArray(input)) throw new GuardError('CONFIG_INVALID', `${source} is invalid: (root): expected an object, got an array`);
  const parsed = v.safeParse(configSchema, input ?? {});
  if (parsed.success) return parsed.output;
  throw new GuardError('CONFIG_INVALID', `${source} is invalid: ${parsed.issues.map(describeIssue).join('; ')}`);
}

/** `health.maxAgeHours: Invalid type: …`; an unknown key is named at the object that has it. */
function describeIssue(issue: v.BaseIssue<unknown>): string {
  const keys = (issue.path ?? []).map((item) => String(item.key));
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    return `${keys.slice(0, -1).join('.') || '(root)'}: unrecognized key ${JSON.stringify(keys.at(-1))}`;
  }
  return `${keys.join('.') || '(root)'}: ${issue.message}`;
}

/** Loads and validates the config file; no file means the defaults. */
export async function loadConfig(file: string | null): Promise<ResolvedConfig> {
  if (file === null) return resolveConfig({});
  const loaded = await loadProjectDefault({ file, role: 'config', code: 'CONFIG_INVALID' });
  const config = resolveConfig(loaded, `config ${file}`);
  // A module the config names is found from the config file, as an import in it would be.
  return config.umzug === null ? config : { ...config, umzug: path.resolve(path.dirname(file), config.umzug) };
}
