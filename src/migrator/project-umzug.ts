import type { Umzug } from 'umzug';
import type { ResolvedConfig } from '../config/schema.ts';
import { GuardError } from '../errors.ts';
import { loadProjectFile } from '../load-module.ts';

/**
 * A project's own Umzug instance, whatever its context and storage: the parts the guard drives.
 * (`Umzug<any>`: an instance's context type is the project's business, and a method taking it
 * makes `Umzug<Ctx>` assignable to nothing narrower.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProjectUmzug = Pick<Umzug<any>, 'up' | 'down' | 'pending' | 'executed' | 'on'>;

/** The config's `umzug` module: its `umzug` export, or its default export. Null when none is configured. */
export async function loadProjectUmzug(config: Pick<ResolvedConfig, 'umzug'>): Promise<ProjectUmzug | null> {
  const file = config.umzug;
  if (file === null) return null;
  const loaded = await loadProjectFile({ file, role: 'umzug module', code: 'CONFIG_INVALID' });
  const candidates = [loaded.umzug, loaded.default, (loaded.default as Record<string, unknown> | undefined)?.umzug];
  const found = candidates.find(isUmzug);
  if (!found) throw new GuardError('CONFIG_INVALID', `umzug module ${file} exports no Umzug instance; export it as \`umzug\` or as the default export`);
  return found;
}

function isUmzug(value: unknown): value is ProjectUmzug {
  const candidate = value as Partial<Record<keyof ProjectUmzug, unknown>> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    ['up', 'down', 'pending', 'executed', 'on'].every((method) => typeof candidate[method as keyof ProjectUmzug] === 'function')
  );
}
