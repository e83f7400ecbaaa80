/**
 * Builds a DMS database of roughly the requested size for measurements:
 *   node --import tsx bench/make-large-db.ts /tmp/big/database.db 1024   (MiB)
 * Runs the bundled migrations first, then fills trades/divDeposits/screener with synthetic rows.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SqliteConnection } from '../src/engines/sqlite/connection.ts';
import { runMigrate } from '../src/commands/migrate.ts';
import { resolveConfig } from '../src/config/load.ts';

const [file = '/tmp/mg-bench/database.db', mib = '1024'] = process.argv.slice(2);
const target = Number(mib) * 1024 * 1024;
await mkdir(path.dirname(file), { recursive: true });
const report = await runMigrate({
  database: file,
  migrationsDir: path.resolve('migrations'),
  backupDir: path.join(path.dirname(file), 'backups'),
  config: resolveConfig({}),
  createIfMissing: true,
});
if (report.exitCode !== 0) throw new Error(`migrate failed: ${JSON.stringify(report.failed)}`);

const db = await SqliteConnection.open(file, 'readwrite');
await db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
  INSERT OR IGNORE INTO risk_group (id, name) VALUES (1, 'low'), (2, 'medium'), (3, 'high');
  INSERT OR IGNORE INTO accounts (id, name, broker) VALUES (1, 'main', 'ib'), (2, 'ira', 'schwab');
  INSERT OR IGNORE INTO divDepositType (id, name) VALUES (1, 'qualified'), (2, 'ordinary');
  INSERT OR IGNORE INTO universe (id, symbol, riskGroupId)
    WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
    SELECT x, 'SYM' || x, 1 + x % 3 FROM n;`);
let batch = 0;
while (
  (await stat(file)).size +
    (await stat(`${file}-wal`).then(
      (s) => s.size,
      () => 0,
    )) <
  target
) {
  await db.exec(`BEGIN;
    INSERT INTO trades (accountId, universeId, side, quantity, price, tradeDate, note)
      WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
      SELECT 1 + x % 2, 1 + x % 2000, CASE x % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, x % 500, (x % 1000) / 7.0,
             date('2015-01-01', '+' || (x % 3000) || ' days'), hex(randomblob(24)) FROM n;
    INSERT INTO divDeposits (accountId, divDepositTypeId, universeId, amount, depositDate)
      WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
      SELECT 1 + x % 2, 1 + x % 2, 1 + x % 2000, (x % 900) / 3.0, date('2015-01-01', '+' || (x % 3000) || ' days') FROM n;
    COMMIT;`);
  batch += 1;
  if (batch % 10 === 0) await db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
}
await db.exec('PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;');
await db.close();
console.log(`${file}: ${((await stat(file)).size / 1024 / 1024).toFixed(0)} MiB`);
