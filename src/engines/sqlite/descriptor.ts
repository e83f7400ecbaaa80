import { takesBy, type EngineDescriptor } from '../descriptor.ts';
import { databasePathFromUrl } from './file.ts';

const SCHEMES = ['file', 'sqlite'] as const;

/** SQLite: a file, named by a path, `file:…` or `sqlite:…`, or a knexfile's `{ filename }`. */
export const sqliteDescriptor: EngineDescriptor = {
  kind: 'sqlite',
  label: 'SQLite',
  schemes: SCHEMES,
  takesPaths: true,
  knexClients: ['sqlite3', 'better-sqlite3'],
  capabilities: { transactionalDdl: true, pointInTime: true },
  labels: { integrity: 'PRAGMA integrity_check', snapshot: 'SQLite database' },
  takes: takesBy(SCHEMES, true),
  locate: (location, cwd) => databasePathFromUrl(location, cwd),
  fromKnexConnection(connection, cwd) {
    const filename = connection.filename;
    return typeof filename === 'string' && filename !== '' ? databasePathFromUrl(filename, cwd) : null;
  },
  knexConnectionHint: "{ filename: './app.db' } or a path",
};
