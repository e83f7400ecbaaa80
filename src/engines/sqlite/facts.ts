import { createHash } from 'node:crypto';
import type { AppliedReader, DatabaseFacts, Reader } from '../contract.ts';
import { quoteIdentifier } from './connection.ts';
import { schemaObjects } from './schema.ts';

/** Version, schema hash, row count per table and applied migrations: what a manifest records. */
export async function readFacts(reader: Reader, applied: AppliedReader): Promise<DatabaseFacts> {
  const [version] = await reader.all<{ v: string }>('SELECT sqlite_version() AS v');
  const [pageSize] = await reader.all<{ page_size: number }>('PRAGMA page_size');
  const [pageCount] = await reader.all<{ page_count: number }>('PRAGMA page_count');
  const schema = await schemaObjects(reader);
  const schemaHash = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
  const tables: Record<string, number> = {};
  for (const entry of schema) {
    if (entry.type !== 'table') continue;
    const [row] = await reader.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(entry.name)}`);
    tables[entry.name] = row?.n ?? 0;
  }
  return {
    engine: 'sqlite',
    engineVersion: version?.v ?? 'unknown',
    schemaHash,
    tables,
    appliedMigrations: await applied(reader),
    details: { pageSize: pageSize?.page_size ?? 0, pageCount: pageCount?.page_count ?? 0 },
  };
}
