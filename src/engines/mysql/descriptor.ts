import { takesBy, type EngineDescriptor } from '../descriptor.ts';
import { myUrlOf, parseMyUrl } from './url.ts';

const SCHEMES = ['mysql', 'mariadb'] as const;
const takes = takesBy(SCHEMES, false);

/** MySQL and MariaDB: a `mysql://` / `mariadb://` URL, or a knexfile's `{ host, port, user, password, database }`. */
export const mysqlDescriptor: EngineDescriptor = {
  kind: 'mysql',
  label: 'MySQL/MariaDB',
  schemes: SCHEMES,
  takesPaths: false,
  knexClients: ['mysql2', 'mysql'],
  // DDL commits implicitly: a migration that changes the schema is undone by restoring the backup.
  capabilities: { transactionalDdl: false, pointInTime: false },
  labels: { integrity: 'a scratch load of the dump', snapshot: 'MySQL/MariaDB dump (mariadb-dump --single-transaction)' },
  takes,
  locate(location) {
    const url = location.trim();
    parseMyUrl(url);
    return url;
  },
  fromKnexConnection(connection) {
    for (const key of ['connectionString', 'uri'] as const) {
      const value = connection[key];
      if (typeof value === 'string' && value.trim() !== '') return takes(value) ? mysqlDescriptor.locate(value, '') : null;
    }
    if (typeof connection.database !== 'string' || connection.database === '') return null;
    return myUrlOf(connection);
  },
  knexConnectionHint: "a mysql:// URL, { uri: 'mysql://…' } or { host, port, user, password, database }",
};
