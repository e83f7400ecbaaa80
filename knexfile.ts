import path from 'node:path';
import dotenv from 'dotenv';
import type { Knex } from 'knex';

// The same configuration the application and `migrate-guard` read: DATABASE_URL from the
// environment or .env, else ./database.db.
dotenv.config({ quiet: true });

function filename(): string {
  const url = process.env.DATABASE_URL ?? './database.db';
  return (
    url
      .replace(/^sqlite:(\/\/)?/, '')
      .replace(/^file:(\/\/)?/, '')
      .split('?')[0] ?? url
  );
}

const base = (): Knex.Config => ({
  client: 'sqlite3',
  connection: { filename: path.resolve(filename()) },
  useNullAsDefault: true,
  // No `migrations` section: the DMS app keeps its history in migrate-guard's own table. A knexfile
  // that configures migrations makes a new database get knex's `knex_migrations` instead.
});

const config: Record<'development' | 'test' | 'production', Knex.Config> = {
  development: base(),
  test: base(),
  production: base(),
};

export default config;
