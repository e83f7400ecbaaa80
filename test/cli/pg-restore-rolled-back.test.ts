import { describe, expect, it } from 'vitest';
import { PgConnection } from '../../src/engines/postgres/connection.ts';
import { createItems } from '../helpers/migrations.ts';
import { parseReport } from '../helpers/project.ts';
import { postgresDatabase } from '../helpers/databases.ts';
import { useMigratedDatabase } from '../helpers/use-database.ts';

/**
 * Found by the PostgreSQL torture (`npm run torture -- --engine postgres`): a `restore` beside an
 * application writing two tables in one transaction lost a deadlock and was rolled back by the
 * server, yet exited 3 ("restore by hand"), because whether the database was unchanged was told by
 * its row counts, which the application had changed meanwhile. A restore that fails before its
 * COMMIT changed nothing: exit 1, RESTORE_FAILED, whatever the application wrote.
 */
describe('postgres: a restore that fails before its COMMIT while the application writes', () => {
  const migrated = useMigratedDatabase(
    { fresh: () => postgresDatabase('mg_rolled_back'), copy: (template) => postgresDatabase('mg_rolled_back', { template }) },
    { '001_items.ts': createItems },
  );

  it('exits 1 (RESTORE_FAILED, nothing changed), not 3', async () => {
    const { project, db } = migrated();
    const cli = (args: readonly string[]) => project.run([...args, '--json'], { env: { DATABASE_URL: db.url } });
    await db.exec('CREATE TABLE zz_events (id SERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const backup = await cli(['backup']);
    expect(backup.exitCode, backup.all).toBe(0);
    const file = parseReport(backup.stdout).backup.path as string;
    await db.exec("INSERT INTO items (name) VALUES ('after the backup')");
    const before = await db.dump();
    // The restore's sessions give up on a lock after 300 ms, as a deadlock would end them.
    await db.exec(`ALTER DATABASE "${db.name}" SET lock_timeout = '300ms'`);

    // The application: one transaction holds `items` (the first table the restore locks), another
    // commits into `zz_events` (the last) all along, so the row counts move while the restore fails.
    const holder = await PgConnection.open(db.url);
    await holder.exec("BEGIN; INSERT INTO items (name) VALUES ('in flight')");
    let writing = true;
    let written = 0;
    const writer = (async () => {
      const connection = await PgConnection.open(db.url);
      try {
        while (writing) {
          await connection.exec('INSERT INTO zz_events DEFAULT VALUES');
          written += 1;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        await connection.close();
      }
    })();
    let result: Awaited<ReturnType<typeof cli>>;
    try {
      result = await cli(['restore', file, '--yes']);
    } finally {
      writing = false;
      await writer;
      await holder.exec('ROLLBACK');
      await holder.close();
    }
    expect(written).toBeGreaterThan(10);
    expect(result.exitCode, result.all).toBe(1);
    const report = parseReport(result.stdout);
    expect(report.error.code).toBe('RESTORE_FAILED');
    expect(report.error.message).toMatch(/rolled back, the database is as it was: .*lock timeout/);
    await db.exec(`ALTER DATABASE "${db.name}" RESET lock_timeout`);
    // Nothing of the backup came back; only the application's own rows moved on.
    const after = await db.dump();
    const withoutEvents = (dump: string) =>
      dump
        .split('\n')
        .filter((line) => !line.startsWith('zz_events '))
        .join('\n');
    expect(withoutEvents(after)).toBe(withoutEvents(before));
  });
});
