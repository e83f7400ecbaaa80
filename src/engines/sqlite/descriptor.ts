import { takesBy, type EngineDescriptor } from '../descriptor.ts';
import { isSqliteBusy } from './busy-code.ts';
import { databasePathFromUrl } from './file.ts';

const SCHEMES = ['file', 'sqlite'] as const;

/** SQLite: a file, named by a path, `file:…` or `sqlite:…`, or a knexfile's `{ filename }`. */
export const sqliteDescriptor: EngineDescriptor = {
  kind: 'sqlite',
  label: 'SQLite',
  schemes: SCHEMES,
  takesPaths: true,
  knexClients: ['sqlite3', 'better-sqlite3'],
  capabilities: { transactionalDdl: true, pointInTime: true, server: false },
  labels: {
    integrity: 'PRAGMA integrity_check',
    snapshot: 'SQLite database',
    fullCheck: 'integrity_check',
    quickCheck: 'quick_check',
    copyProof: 'integrity_check of every page of the copy',
    copyCheck: 'integrity_check of the whole copy',
    proof: 'integrity_check',
  },
  load: async () => (await import('./engine.ts')).sqliteModule,
  // node-sqlite3 reports SQLITE_FULL ("database or disk is full") in the message and `code`.
  diskFull: ({ code, message }) =>
    code === 'SQLITE_FULL' || (typeof message === 'string' && /\bSQLITE_FULL\b|database or disk is full/i.test(message)),
  busy: ({ code }) => isSqliteBusy(code),
  // Its extended codes included; on a disk that filled up, SQLite sometimes reports this instead of SQLITE_FULL.
  ioError: ({ code, message }) =>
    (typeof code === 'string' && code.startsWith('SQLITE_IOERR')) ||
    (typeof message === 'string' && /\bSQLITE_IOERR\w*\b|disk I\/O error/.test(message)),
  takes: takesBy(SCHEMES, true),
  locate: (location, cwd) => databasePathFromUrl(location, cwd),
  fromKnexConnection(connection, cwd) {
    const filename = connection.filename;
    return typeof filename === 'string' && filename !== '' ? databasePathFromUrl(filename, cwd) : null;
  },
  knexConnectionHint: "{ filename: './app.db' } or a path",
};
