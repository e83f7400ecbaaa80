import { describe, expect, it } from 'vitest';
import { schemeOf } from '../../src/engines/descriptor.ts';
import {
  descriptorOf,
  ENGINES,
  engineOfClient,
  engineOfLocation,
  resolveLocation,
  supportedClients,
  supportedLocations,
} from '../../src/engines/registry.ts';
import { GuardError } from '../../src/errors.ts';

/** The GuardError `run` throws. */
function refusal(run: () => unknown): GuardError {
  try {
    run();
  } catch (error) {
    if (error instanceof GuardError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the engine registry', () => {
  it('has one descriptor per kind, no scheme or knex client taken twice, and at most one engine taking plain paths', () => {
    const kinds = ENGINES.map((engine) => engine.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
    const schemes = ENGINES.flatMap((engine) => engine.schemes);
    expect(new Set(schemes).size).toBe(schemes.length);
    const clients = ENGINES.flatMap((engine) => engine.knexClients);
    expect(new Set(clients).size).toBe(clients.length);
    expect(ENGINES.filter((engine) => engine.takesPaths)).toHaveLength(1);
    for (const engine of ENGINES) expect(descriptorOf(engine.kind)).toBe(engine);
  });

  it('describes each engine for messages and capabilities', () => {
    expect(descriptorOf('sqlite')).toMatchObject({ label: 'SQLite', capabilities: { transactionalDdl: true, pointInTime: true } });
    expect(descriptorOf('postgres')).toMatchObject({ label: 'PostgreSQL', capabilities: { transactionalDdl: true, pointInTime: false } });
    expect(descriptorOf('mysql')).toMatchObject({ label: 'MySQL/MariaDB', capabilities: { transactionalDdl: false, pointInTime: false } });
    expect(supportedLocations()).toBe(
      'file:, sqlite: or a path (SQLite); postgres://, postgresql:// (PostgreSQL); mysql://, mariadb:// (MySQL/MariaDB)',
    );
    expect(supportedClients()).toBe(
      'sqlite3, better-sqlite3 (SQLite); pg, postgres, postgresql (PostgreSQL); mysql2, mysql (MySQL/MariaDB)',
    );
  });

  it('reads a scheme; a Windows drive letter and a plain path have none', () => {
    expect(schemeOf(' PostgreSQL://db/shop')).toBe('postgresql');
    expect(schemeOf('mongodb+srv://cluster/shop')).toBe('mongodb+srv');
    expect(schemeOf('file:app.db')).toBe('file');
    expect(schemeOf('C:\\data\\app.db')).toBeNull();
    expect(schemeOf('./with:colon.db')).toBeNull();
    expect(schemeOf('/srv/app.db')).toBeNull();
  });
});

describe('engineOfLocation: a --db / DATABASE_URL by its scheme', () => {
  it.each([
    ['postgres://app@db/shop', 'postgres'],
    ['POSTGRESQL://db/shop', 'postgres'],
    ['file:app.db', 'sqlite'],
    ['sqlite://./app.db', 'sqlite'],
    ['app.db', 'sqlite'],
    ['/srv/data/app.db', 'sqlite'],
  ] as const)('%s is %s', (location, kind) => {
    expect(engineOfLocation(location, '--db').kind).toBe(kind);
  });

  it.each([
    'mongodb://u:hunter2@mongo/shop',
    'redis://cache:6379/0',
    'mongodb+srv://cluster/shop',
    'jdbc:postgresql://db/shop',
    'http://example.com/app.db',
  ])('refuses %s, naming the scheme and what is supported, the password redacted', (location) => {
    const error = refusal(() => engineOfLocation(location, 'DATABASE_URL'));
    expect(error).toMatchObject({ code: 'ENGINE_UNSUPPORTED', exitCode: 1 });
    expect(error.message).toContain(
      `the scheme ${schemeOf(location)}: is not a database migrate-guard supports; supported: ${supportedLocations()}`,
    );
    expect(error.message).not.toContain('hunter2');
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it.each(['mysql://root:hunter2@127.0.0.1:3306/kutt', 'mariadb://127.0.0.1/kutt', 'MySQL://db/kutt'])(
    'takes %s as MySQL/MariaDB',
    (location) => {
      expect(resolveLocation(location, '/srv/project', '--db')).toEqual({ engine: 'mysql', database: location });
    },
  );

  it('refuses a MySQL URL that names no database, password redacted', () => {
    const error = refusal(() => resolveLocation('mysql://root:hunter2@127.0.0.1:3306/', '/srv/project', '--db'));
    expect(error.code).toBe('USAGE');
    expect(error.message).toContain('names no database');
    expect(error.message).not.toContain('hunter2');
  });

  it('resolves the location as the engine takes it', () => {
    expect(resolveLocation('file:data/app.db?mode=rwc', '/srv/project', '--db')).toEqual({
      engine: 'sqlite',
      database: '/srv/project/data/app.db',
    });
    expect(resolveLocation(' postgres://db/shop ', '/srv/project', '--db')).toEqual({ engine: 'postgres', database: 'postgres://db/shop' });
    expect(refusal(() => resolveLocation('postgres://db:notaport/shop', '/srv/project', '--db')).code).toBe('USAGE');
    expect(refusal(() => resolveLocation('file::memory:', '/srv/project', '--db')).code).toBe('USAGE');
  });
});

describe('engineOfClient: a knexfile client', () => {
  it.each([
    ['sqlite3', 'sqlite'],
    ['better-sqlite3', 'sqlite'],
    ['pg', 'postgres'],
    ['postgres', 'postgres'],
    ['postgresql', 'postgres'],
    ['PG', 'postgres'],
    ['mysql', 'mysql'],
    ['mysql2', 'mysql'],
  ] as const)('%s is %s', (client, kind) => {
    expect(engineOfClient(client, 'knexfile.js').kind).toBe(kind);
  });

  it.each([
    ['oracledb', "client 'oracledb'"],
    ['mssql', "client 'mssql'"],
    [undefined, 'client undefined'],
    [class Custom {}, 'client a class'],
  ])('refuses %s, naming it and the supported clients', (client, named) => {
    const error = refusal(() => engineOfClient(client, 'knexfile.ts (production)'));
    expect(error.code).toBe('ENGINE_UNSUPPORTED');
    expect(error.message).toBe(
      `knexfile.ts (production): ${named} is not a database migrate-guard supports; supported: ${supportedClients()}. Nothing was changed`,
    );
  });
});
