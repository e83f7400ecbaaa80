/**
 * Builds a DMS database of roughly the requested size on MySQL/MariaDB, for measurements:
 *   node --import tsx bench/make-large-mysql.ts mysql://root@127.0.0.1:3306/mg_bench 1000   (MiB)
 * Runs the bundled migrations through migrate-guard first, then fills trades/divDeposits with
 * synthetic rows (a numbers table cross-joined), the same shape bench/make-large-db.ts gives SQLite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runMigrate } from '../src/commands/migrate.ts';
import { resolveConfig } from '../src/config/load.ts';
import { withMy } from '../src/engines/mysql/connection.ts';
import { mysqlEngine } from '../src/engines/mysql/engine.ts';
import { parseMyUrl } from '../src/engines/mysql/url.ts';

const [url = 'mysql://root@127.0.0.1:3306/mg_bench', mib = '1000'] = process.argv.slice(2);
const target = Number(mib) * 1024 * 1024;
const server = parseMyUrl(url);
await withMy(
  server,
  async (connection) => {
    await connection.exec(`DROP DATABASE IF EXISTS \`${server.database}\``);
    await connection.exec(`CREATE DATABASE \`${server.database}\` CHARACTER SET utf8mb4`);
  },
  null,
);
const scratch = await mkdtemp(path.join(tmpdir(), 'migrate-guard-make-mysql-'));
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
const engine = mysqlEngine(url, { stateDir: scratch });
await withMy(server, async (connection) => {
  await connection.exec(`INSERT IGNORE INTO risk_group (id, name) VALUES (1, 'low'), (2, 'medium'), (3, 'high')`);
  await connection.exec(`INSERT IGNORE INTO accounts (id, name, broker) VALUES (1, 'main', 'ib'), (2, 'ira', 'schwab')`);
  await connection.exec(`INSERT IGNORE INTO divDepositType (id, name) VALUES (1, 'qualified'), (2, 'ordinary')`);
  await connection.exec('CREATE TABLE bench_numbers (x INT PRIMARY KEY)');
  await connection.exec('INSERT INTO bench_numbers VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)');
  // 10 000 numbers: every pair of digits' pairs.
  await connection.exec('INSERT INTO bench_numbers SELECT a.x * 10 + b.x FROM bench_numbers a, bench_numbers b WHERE a.x * 10 + b.x >= 10');
  await connection.exec(
    'INSERT INTO bench_numbers SELECT a.x * 100 + b.x FROM bench_numbers a, bench_numbers b WHERE a.x < 100 AND b.x < 100 AND a.x * 100 + b.x >= 100',
  );
  await connection.exec(
    `INSERT IGNORE INTO universe (id, symbol, riskGroupId) SELECT x + 1, CONCAT('SYM', x + 1), 1 + x % 3 FROM bench_numbers WHERE x < 2000`,
  );
  let round = 0;
  while ((await engine.size()) < target) {
    round += 1;
    await connection.exec(`
      INSERT INTO trades (accountId, universeId, side, quantity, price, tradeDate, note)
        SELECT 1 + x % 2, 1 + x % 2000, IF(x % 2 = 0, 'buy', 'sell'), x % 500, (x % 1000) / 7.0,
               DATE_ADD('2015-01-01', INTERVAL x % 3000 DAY), CONCAT(MD5(RAND()), SUBSTR(MD5(RAND()), 1, 16))
          FROM bench_numbers`);
    await connection.exec(`
      INSERT INTO divDeposits (accountId, divDepositTypeId, universeId, amount, depositDate)
        SELECT 1 + x % 2, 1 + x % 2, 1 + x % 2000, (x % 900) / 3.0, DATE_ADD('2015-01-01', INTERVAL x % 3000 DAY)
          FROM bench_numbers WHERE x % 5 = 0`);
    if (round % 20 === 0) await connection.exec('ANALYZE TABLE trades, divDeposits');
  }
  await connection.exec('DROP TABLE bench_numbers');
  console.log(`${url}: ${((await engine.size()) / 1024 / 1024).toFixed(0)} MiB`);
});
