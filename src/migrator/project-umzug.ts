import type { Umzug } from 'umzug';
import type { ResolvedConfig } from '../config/schema.ts';
import { GuardError } from '../errors.ts';
import { loadProjectFile } from '../load-module.ts';
import type { Reader } from '../engines/contract.ts';

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
  if (!found)
    throw new GuardError(
      'CONFIG_INVALID',
      `umzug module ${file} exports no Umzug instance; export it as \`umzug\` or as the default export`,
    );
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

/**
 * A reader on the connection a project Umzug's migrations run through, where its `context`
 * reaches one: a knex instance, a sequelize QueryInterface or Sequelize instance, or an object
 * holding one of those (`{ queryInterface }`, `{ knex }`). Null when it does not.
 */
export async function projectReader(umzug: ProjectUmzug): Promise<Reader | null> {
  return (await projectConnection(umzug))?.reader ?? null;
}

/** The project Umzug's connection as a reader, and how the project's code sends it SQL. */
export interface ProjectConnection {
  readonly reader: Reader;
  /** The call that runs SQL on it, as the project would write it: `knex.raw` or `sequelize.query`. */
  readonly call: 'knex.raw' | 'sequelize.query';
}

export async function projectConnection(umzug: ProjectUmzug): Promise<ProjectConnection | null> {
  const getContext = (umzug as unknown as { getContext?: () => Promise<unknown> }).getContext;
  if (typeof getContext !== 'function') return null;
  const context = await getContext.call(umzug);
  const candidates = [context, ...(isObject(context) ? Object.values(context) : [])];
  for (const candidate of candidates) {
    const reader = readerOver(candidate);
    if (reader) return reader;
  }
  return null;
}

function readerOver(value: unknown): ProjectConnection | null {
  if (!isObject(value)) return null;
  const knex = value as { raw?: unknown; client?: unknown };
  if (typeof knex.raw === 'function' && isObject(knex.client)) {
    const raw = knex.raw as (sql: string, bindings?: readonly unknown[]) => Promise<unknown>;
    const reader: Reader = {
      async all<T>(sql: string, bindings: readonly unknown[] = []) {
        const result = await raw.call(value, sql, bindings);
        return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
      },
    };
    return { reader, call: 'knex.raw' };
  }
  // A QueryInterface has its Sequelize as `.sequelize`; a Sequelize instance has `query` itself.
  const sequelize = isSequelize((value as { sequelize?: unknown }).sequelize)
    ? (value as { sequelize: SequelizeLike }).sequelize
    : isSequelize(value)
      ? value
      : null;
  if (sequelize === null) return null;
  const reader: Reader = {
    async all<T>(sql: string, bindings: readonly unknown[] = []) {
      return (await sequelize.query(sql, { type: 'SELECT', ...(bindings.length > 0 ? { replacements: [...bindings] } : {}) })) as T[];
    },
  };
  return { reader, call: 'sequelize.query' };
}

interface SequelizeLike {
  query(sql: string, options: Record<string, unknown>): Promise<unknown>;
}

function isSequelize(value: unknown): value is SequelizeLike {
  return (
    isObject(value) &&
    typeof (value as { query?: unknown }).query === 'function' &&
    typeof (value as { getQueryInterface?: unknown }).getQueryInterface === 'function'
  );
}

function isObject(value: unknown): value is object {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/** Where a project Umzug's migrations live, when umzug knows (a glob): their `review` is read there. */
export async function migrationPaths(umzug: ProjectUmzug): Promise<ReadonlyMap<string, string>> {
  const listed = [...(await umzug.executed()), ...(await umzug.pending())] as readonly { readonly name: string; readonly path?: string }[];
  return new Map(listed.filter((migration) => typeof migration.path === 'string').map((migration) => [migration.name, migration.path!]));
}
