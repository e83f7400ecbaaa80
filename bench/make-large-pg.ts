/**
 * Builds a DMS database of roughly the requested size on PostgreSQL, for measurements:
 *   node --import tsx bench/make-large-pg.ts postgres://postgres@127.0.0.1:5432/mg_bench 1000   (MiB)
 * Runs the bundled migrations through migrate-guard first, then fills trades/divDeposits with
 * synthetic rows (generate_series), the same shape bench/make-large-db.ts gives SQLite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runMigrate } from '../src/commands/migrate.ts';
import { resolveConfig } from '../src/config/load.ts';
import { withPg } from '../src/engines/postgres/connection.ts';
import { databaseOf, withDatabase } from '../src/engines/postgres/url.ts';

const [url = 'postgres://postgres@127.0.0.1:5432/mg_bench', mib = '1000'] = process.argv.slice(2);
const target = Number(mib) * 1024 * 1024;
const database = databaseOf(url);
await withPg(withDatabase(url, 'postgres'), async (connection) => {
  await connection.exec(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await connection.exec(`CREATE DATABASE "${database}"`);
});
const scratch = await mkdtemp(path.join(tmpdir(), 'migrate-guard-make-pg-'));
try {
  const report = await runMigrate({
    database: url,
    migrationsDir: path.resolve('migrations'),
    backupDir: path.join(scratch, 'backups'),
    config: resolveConfig({}),
  });
  if (report.exitCode !== 0) throw new Error(`migrate failed: ${JSON.stringify(report.failed)}`);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
await withPg(url, async (connection) => {
  await connection.exec(`
    INSERT INTO risk_group (id, name) VALUES (1, 'low'), (2, 'medium'), (3, 'high') ON CONFLICT DO NOTHING;
    INSERT INTO accounts (id, name, broker) VALUES (1, 'main', 'ib'), (2, 'ira', 'schwab') ON CONFLICT DO NOTHING;
    INSERT INTO "divDepositType" (id, name) VALUES (1, 'qualified'), (2, 'ordinary') ON CONFLICT DO NOTHING;
    INSERT INTO universe (id, symbol, "riskGroupId") SELECT x, 'SYM' || x, 1 + x % 3 FROM generate_series(1, 2000) x ON CONFLICT DO NOTHING;`);
  const size = async () => Number((await connection.all<{ n: string }>('SELECT pg_database_size(current_database()) AS n'))[0]?.n ?? 0);
  // Batches of about a fiftieth of the target (a trade row takes ~200 bytes with its indexes).
  const batch = Math.max(1000, Math.min(200_000, Math.round(target / 50 / 200)));
  while ((await size()) < target) {
    await connection.exec(`
      INSERT INTO trades ("accountId", "universeId", side, quantity, price, "tradeDate", note)
        SELECT 1 + x % 2, 1 + x % 2000, CASE x % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, x % 500, (x % 1000) / 7.0,
               date '2015-01-01' + (x % 3000), md5(random()::text) || substr(md5(random()::text), 1, 16) FROM generate_series(1, ${batch}) x;
      INSERT INTO "divDeposits" ("accountId", "divDepositTypeId", "universeId", amount, "depositDate")
        SELECT 1 + x % 2, 1 + x % 2, 1 + x % 2000, (x % 900) / 3.0, date '2015-01-01' + (x % 3000) FROM generate_series(1, ${Math.ceil(batch / 5)}) x;`);
  }
  await connection.exec('VACUUM ANALYZE');
  console.log(`${url}: ${((await size()) / 1024 / 1024).toFixed(0)} MiB`);
});
