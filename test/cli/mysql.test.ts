import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { parseReport, TempProject, waitForFile } from '../helpers/project.ts';
import { createItems } from '../helpers/migrations.ts';
import { MY_SERVER, mysqlDatabase, uniqueDatabaseName, type TestDatabase } from '../helpers/databases.ts';

/**
 * What only MySQL/MariaDB does: DDL commits implicitly, so a migration that fails after two DDL
 * statements, or a run killed between them, is undone by restoring the backup (the shared
 * scenarios are in engines.test.ts); `.sql` files in the client's grammar (DELIMITER); and the
 * refusals of a server that does not answer, a wrong password or a database that does not exist.
 */
describe('MySQL/MariaDB through the CLI', () => {
  let project: TempProject;
  let db: TestDatabase;
  const cli = (args: readonly string[], env: Record<string, string | undefined> = {}) =>
    project.run(args, { env: { DATABASE_URL: db.url, ...env } });

  beforeEach(async () => {
    project = await TempProject.create();
    db = await mysqlDatabase('mg_mysql_only');
    await project.writeMigration('001_items.ts', createItems);
    const first = await cli(['migrate']);
    expect(first.exitCode, first.all).toBe(0);
  });
  afterEach(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  it('restores the backup when a .sql migration fails after two DDL statements (exit 2): schema and rows as before', async () => {
    const before = await db.dump();
    await project.writeMigration(
      '002_two_ddl.sql',
      "CREATE TABLE half_done (id INT PRIMARY KEY);\nALTER TABLE items ADD COLUMN extra VARCHAR(10);\nINSERT INTO items (name) VALUES ('x');\nINSERT INTO nowhere VALUES (1);\n",
    );
    const result = await cli(['migrate', '--json']);
    expect(result.exitCode, result.all).toBe(2);
    const report = parseReport(result.stdout);
    expect(report).toMatchObject({ restored: true, undo: 'restore', restoreError: null });
    expect(report.failed).toMatchObject({ migration: '002_two_ddl', phase: 'migrate', code: 'ER_NO_SUCH_TABLE', line: 4 });
    expect(await db.dump()).toBe(before);
    expect(await db.tables()).not.toContain('half_done');
  });

  it('recovers a run killed with SIGKILL between two DDL statements: the next run restores, proves, then migrates', async () => {
    const marker = path.join(project.dir, 'between');
    await project.writeMigration(
      '002_slow_ddl.ts',
      `import { writeFileSync } from 'node:fs';
      export const config = { transaction: false };
      export async function up({ context }) {
        await context.schema.createTable('first_ddl', (t) => { t.increments('id'); });
        if (process.env.HANG === '1') {
          writeFileSync(${JSON.stringify(marker)}, String(process.pid));
          await new Promise((resolve) => setTimeout(resolve, 60_000));
        }
        await context.schema.alterTable('items', (t) => { t.string('second_ddl'); });
      }\n`,
    );
    const killed = cli(['migrate'], { HANG: '1' });
    await waitForFile(marker);
    expect(await db.tables()).toContain('first_ddl');
    killed.kill('SIGKILL');
    await killed;

    const next = await cli(['migrate', '--json']);
    expect(next.exitCode, next.all).toBe(0);
    const report = parseReport(next.stdout);
    expect(report.recovered).toMatchObject({ state: 'migrating', pid: killed.pid, restoredFrom: expect.stringMatching(/\.sql$/) });
    // The pre-restore copy holds what the killed run left: its first DDL.
    expect(await db.querySnapshot(report.recovered.preRestoreCopy, 'SELECT COUNT(*) AS n FROM first_ddl')).toEqual([{ n: '0' }]);
    expect(report.applied).toEqual(['002_slow_ddl']);
    expect(await db.query('SELECT name FROM items ORDER BY id')).toEqual([{ name: 'alpha' }, { name: 'beta' }]);
    const columns = await db.query<{ name: string }>(
      "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'items' ORDER BY ordinal_position",
    );
    expect(columns.map((column) => column.name)).toEqual(['id', 'name', 'second_ddl']);
    // Nothing of the killed run is left: its scratch databases are swept.
    const scratch = await db.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name LIKE 'migrate\\_guard\\_scratch\\_%' AND schema_name LIKE CONCAT('%\\_', ?, '\\_%')".replace(
        '?',
        `'${killed.pid}'`,
      ),
    );
    expect(Number(scratch[0]!.n)).toBe(0);
  });

  it('runs a .sql migration written for the mariadb client: DELIMITER, a trigger with a BEGIN … END body, # and -- comments', async () => {
    await project.writeMigration(
      '002_trigger.sql',
      `# a comment; with a semicolon
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)); -- it's fine
DELIMITER $$
CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW
BEGIN
  INSERT INTO audit (note) VALUES (CONCAT('added; ', NEW.name));
END$$
DELIMITER ;
INSERT INTO items (name) VALUES ('what?; \`fine\`');
`,
    );
    const result = await cli(['migrate']);
    expect(result.exitCode, result.all).toBe(0);
    expect(await db.query('SELECT note FROM audit')).toEqual([{ note: 'added; what?; `fine`' }]);
  });

  it('refuses in one line (exit 1), password redacted: a server that does not answer, a wrong password, a missing database', async () => {
    const server = new URL(MY_SERVER);
    const cases = [
      { url: `mysql://root:s3cret-pw@127.0.0.1:1/${db.name}`, says: /cannot connect to .*ECONNREFUSED/ },
      { url: `mysql://${server.username || 'root'}:s3cret-pw@${server.host}/${db.name}`, says: /cannot connect to .*Access denied/ },
    ];
    for (const { url, says } of cases) {
      const before = await db.dump();
      const result = await project.run(['migrate'], { env: { DATABASE_URL: url, NODE_ENV: 'production' } });
      expect(result.exitCode, result.all).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(says);
      expect(result.all).not.toContain('s3cret-pw');
      expect(await db.dump()).toBe(before);
    }
    const missing = uniqueDatabaseName('mg_mysql_missing');
    const result = await project.run(['migrate'], { env: { DATABASE_URL: `${MY_SERVER}/${missing}`, NODE_ENV: 'production' } });
    expect(result.exitCode, result.all).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`${missing} does not exist`);
    expect(await db.query(`SELECT schema_name FROM information_schema.schemata WHERE schema_name = '${missing}'`)).toEqual([]);
  });
});
