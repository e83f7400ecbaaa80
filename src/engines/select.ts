import { GuardError } from '../errors.ts';
import type { Engine, EngineKind } from './contract.ts';
import type { EngineOptions } from './descriptor.ts';
import { descriptorOf, engineOfLocation, serverLabels } from './registry.ts';

export type { EngineOptions } from './descriptor.ts';
export { configureEngines } from './registry.ts';

/**
 * The engine for a database as `Locations` names it: its `engine` kind, and its `database` (a
 * path, a URL). Its code is loaded here, on first use (`descriptor.load()`): resolving where the
 * database is loads none. A command builds it once and passes it on.
 */
export async function engineFor(database: string, options: EngineOptions = {}): Promise<Engine> {
  const descriptor = options.kind ? descriptorOf(options.kind) : engineOfLocation(database, 'database');
  if (!descriptor.capabilities.server && options.directUrl) {
    throw new GuardError(
      'USAGE',
      `DIRECT_URL is set, but the database is the ${descriptor.kind} database ${database}: DIRECT_URL is for a ${serverLabels()} database reached through a pooler; unset it, or check --db / DATABASE_URL`,
    );
  }
  return (await descriptor.load()).engine(database, { ...options, kind: descriptor.kind });
}

/**
 * The engine that proves a backup taken from an engine of `kind` (its manifest's `source`): the
 * engine's own choice (see EngineModule.backupEngine). `database`, when given, is the live
 * database the command names (a server engine proves its dumps on that server).
 */
export async function engineForBackup(
  kind: EngineKind,
  source: string,
  database: string | undefined,
  options: EngineOptions = {},
): Promise<Engine> {
  const descriptor = descriptorOf(kind);
  // A backup that is a file needs no server: a DIRECT_URL is not for it, nor is the live database read.
  if (!descriptor.capabilities.server)
    return (await descriptor.load()).backupEngine(source, undefined, { ...options, kind, directUrl: null });
  const live = database === undefined ? undefined : { database, kind: options.kind ?? engineOfLocation(database, 'database').kind };
  return (await descriptor.load()).backupEngine(source, live, { ...options, kind });
}
