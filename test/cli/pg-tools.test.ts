import { beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { BIN, parseReport, type TempProject } from '../helpers/project.ts';
import { addItem, createItems } from '../helpers/migrations.ts';
import { postgresDatabase, type TestDatabase } from '../helpers/databases.ts';
import { useMigratedDatabase } from '../helpers/use-database.ts';
import { watched } from '../helpers/unexpected-errors.ts';

/**
 * The PostgreSQL client tools (pg_dump, pg_restore, psql) are looked up on PATH, then in Debian's
 * /usr/lib/postgresql/<major>/bin. To take them away for real without touching the system, the
 * CLI runs with a PATH of our own and, in a private mount namespace (`unshare --mount`, root
 * only), an empty tmpfs over /usr/lib/postgresql: only that process tree sees it empty.
 */

const DEBIAN_TOOLS = '/usr/lib/postgresql';
const HIDE = `mount -t tmpfs migrate-guard-test ${DEBIAN_TOOLS} && export PATH="$TOOLS_PATH" && exec "$@"`;

/** Whether this machine lets a test hide /usr/lib/postgresql in a mount namespace of its own. */
const CAN_HIDE =
  existsSync(DEBIAN_TOOLS) &&
  execaSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs probe ${DEBIAN_TOOLS}`], { reject: false })
    .exitCode === 0;

describe('the PostgreSQL client tools', () => {
  let project: TempProject;
  let db: TestDatabase;
  /** The only folder on the CLI's PATH: empty, or with a fake tool. */
  let bin: string;
  let serverMajor: number;

  /** The CLI with PATH = `bin` only; with `hideDebian`, /usr/lib/postgresql is an empty folder for it. */
  const cli = (args: readonly string[], options: { hideDebian: boolean }) => {
    const env = { DATABASE_URL: db.url, NODE_ENV: 'development', TOOLS_PATH: bin };
    const settings = { cwd: project.dir, reject: false, all: true, stdin: 'ignore' } as const;
    const node = [process.execPath, BIN, ...args, '--json'];
    return watched(
      args,
      options.hideDebian
        ? execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', HIDE, 'sh', ...node], { ...settings, env })
        : execa(node[0]!, node.slice(1), { ...settings, env: { ...env, PATH: bin } }),
    );
  };
  const reportOf = async (args: readonly string[], exitCode: number, options = { hideDebian: true }): Promise<Record<string, any>> => {
    const result = await cli(args, options);
    expect(result.exitCode, result.all).toBe(exitCode);
    return parseReport(result.stdout);
  };

  const migrated = useMigratedDatabase(
    { fresh: () => postgresDatabase('mg_tools'), copy: (template) => postgresDatabase('mg_tools', { template }) },
    { '001_items.ts': createItems },
  );
  beforeEach(async () => {
    ({ project, db } = migrated());
    bin = path.join(project.dir, 'bin');
    await mkdir(bin);
    const [version] = await db.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
    serverMajor = Math.floor(Number(version!.num) / 10_000);
  });

  it.runIf(existsSync(DEBIAN_TOOLS))("are found in Debian's /usr/lib/postgresql/<major>/bin when PATH has none", async () => {
    const { backup } = await reportOf(['backup'], 0, { hideDebian: false });
    expect(backup).toMatchObject({ verified: true });
    expect(await reportOf(['verify', backup.path], 0, { hideDebian: false })).toMatchObject({ ok: true });
  });

  it.runIf(CAN_HIDE)('missing pg_dump: backup and migrate are refused (exit 1) naming the package, nothing changed', async () => {
    const before = await db.dump();
    const files = await project.backupFiles();
    const backup = await reportOf(['backup'], 1);
    expect(backup.error.code).toBe('BACKUP_FAILED');
    expect(backup.error.message).toContain('pg_dump is not installed');
    expect(backup.error.message).not.toContain('free space');
    expect(backup.error.message).toContain(`apt-get install postgresql-client-${serverMajor}`);

    await project.writeMigration('002_gamma.ts', addItem('gamma'));
    const migrate = await reportOf(['migrate'], 1);
    expect(migrate).toMatchObject({ applied: [], backup: null, restored: false, error: { code: 'BACKUP_FAILED' } });
    expect(migrate.error.message).toContain('pg_dump is not installed');
    expect(await db.dump()).toBe(before);
    expect(await project.backupFiles()).toEqual(files);
  });

  it.runIf(CAN_HIDE)('a pg_dump older than the server is refused, naming it and its version', async () => {
    const fake = path.join(bin, 'pg_dump');
    await writeFile(fake, '#!/bin/sh\necho "pg_dump (PostgreSQL) 13.16"\n');
    await chmod(fake, 0o755);
    const files = await project.backupFiles();
    const backup = await reportOf(['backup'], 1);
    expect(backup.error.message).toContain(`pg_dump is older than the server (PostgreSQL ${serverMajor}): found ${fake} (13)`);
    expect(await project.backupFiles()).toEqual(files);
  });

  it.runIf(CAN_HIDE)('missing pg_restore: restore and verify are refused (exit 1, TOOL_MISSING) with the database untouched', async () => {
    const { backup } = await reportOf(['backup'], 0, { hideDebian: false });
    await db.exec("DELETE FROM items WHERE name = 'alpha'");
    const before = await db.dump();
    const restore = await reportOf(['restore', backup.path], 1);
    expect(restore.error.message).toContain('pg_restore is not installed');
    expect(await db.dump()).toBe(before);

    // The backup is not at fault: a refusal (exit 1), not a failed verification (exit 4).
    const verify = await reportOf(['verify', backup.path], 1);
    expect(verify.error).toMatchObject({ code: 'TOOL_MISSING', message: expect.stringContaining('pg_restore is not installed') });
  });

  // Regression (this test found it; fixed in src/commands/scrub.ts and verify.ts: TOOL_MISSING is
  // a refusal): a deep scrub without pg_restore marked every sound backup unverified (exit 4).
  it.runIf(CAN_HIDE)('a deep scrub without pg_restore is refused and leaves the backups verified', async () => {
    await reportOf(['backup'], 0, { hideDebian: false });
    const scrub = await cli(['verify', '--all', '--deep'], { hideDebian: true });
    expect(scrub.exitCode, scrub.all).toBe(1);
    const { backups } = await reportOf(['backups'], 0, { hideDebian: false });
    for (const entry of backups) expect(entry).toMatchObject({ verified: true, scrubError: null });
  });
});
