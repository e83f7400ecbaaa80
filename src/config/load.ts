import path from 'node:path';
import { GuardError, messageOf } from '../errors.ts';
import { importProjectDefault } from '../load-module.ts';
import { configSchema, type GuardConfig, type ResolvedConfig } from './schema.ts';

/** Typed helper for `migrate-guard.config.ts`: `export default defineConfig({ … })`. */
export function defineConfig(config: GuardConfig): GuardConfig {
  return config;
}

/** Validates a config object and fills in the defaults. One readable line per problem. */
export function resolveConfig(input: unknown, source = 'config'): ResolvedConfig {
  const parsed = configSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
  throw new GuardError('CONFIG_INVALID', `${source} is invalid: ${problems}`);
}

/** Loads and validates the config file; no file means the defaults. */
export async function loadConfig(file: string | null): Promise<ResolvedConfig> {
  if (file === null) return resolveConfig({});
  let loaded: unknown;
  try {
    loaded = await importProjectDefault(file);
  } catch (error) {
    throw new GuardError('CONFIG_INVALID', `config ${file} could not be loaded: ${messageOf(error)}`, { cause: error });
  }
  const config = resolveConfig(loaded, `config ${file}`);
  // A module the config names is found from the config file, as an import in it would be.
  return config.umzug === null ? config : { ...config, umzug: path.resolve(path.dirname(file), config.umzug) };
}
