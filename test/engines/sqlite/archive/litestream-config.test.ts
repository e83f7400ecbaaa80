import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { litestreamBinary, writeLitestreamConfig } from '../../../../src/engines/sqlite/archive/litestream.ts';
import { GuardError } from '../../../../src/errors.ts';
import { exec } from '../../../helpers/project.ts';

let dir: string;
const database = () => path.join(dir, 'app.db');
const backups = () => path.join(dir, 'backups');
const modeOf = async (file: string) => (await stat(file)).mode & 0o777;
const settings = (replica: string | null) => ({ replica, syncInterval: '1s' });

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-litestream-'));
  await exec(database(), 'CREATE TABLE t (x)');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the generated litestream.yml', () => {
  it('holds an s3 replica URL without its credentials, which go to Litestream through its environment', async () => {
    const { config, env } = await writeLitestreamConfig(
      database(),
      backups(),
      settings('s3://AKIAEXAMPLE:wJalr/XUtnFEMI%2BK7MDENG@dms-backups/wal?region=eu-west-1'),
    );
    const yaml = await readFile(config, 'utf8');
    expect(yaml).toContain('url: "s3://dms-backups/wal?region=eu-west-1"');
    expect(yaml).not.toContain('wJalr');
    expect(yaml).not.toContain('AKIAEXAMPLE');
    expect(env).toEqual({
      LITESTREAM_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      LITESTREAM_SECRET_ACCESS_KEY: 'wJalr/XUtnFEMI+K7MDENG',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalr/XUtnFEMI+K7MDENG',
    });
    // Litestream reads the file as we wrote it.
    const listed = await execa(litestreamBinary(), ['databases', '-config', config], { reject: false, env });
    expect(listed.exitCode, listed.all).toBe(0);
    expect(listed.stdout).toContain('s3');
  });

  it('gives an sftp password to Litestream through an environment variable its config expands', async () => {
    const { config, env } = await writeLitestreamConfig(database(), backups(), settings('sftp://backup:s3cr%22et%23x@host.example/wal'));
    const yaml = await readFile(config, 'utf8');
    expect(yaml).not.toContain('s3cr');
    expect(yaml).toContain('url: "sftp://backup@host.example/wal"');
    expect(Object.values(env)).toEqual(['s3cr"et#x']);
    const listed = await execa(litestreamBinary(), ['databases', '-config', config], { reject: false, env });
    expect(listed.exitCode, listed.all).toBe(0);
  });

  it('puts an Azure account key into LITESTREAM_AZURE_ACCOUNT_KEY, keeping the account name in the URL', async () => {
    const { config, env } = await writeLitestreamConfig(database(), backups(), settings('abs://dmsaccount:a2V5Cg%3D%3D@container/wal'));
    expect(await readFile(config, 'utf8')).toContain('url: "abs://dmsaccount@container/wal"');
    expect(env).toEqual({ LITESTREAM_AZURE_ACCOUNT_KEY: 'a2V5Cg==' });
  });

  it('refuses credentials Litestream v0.3.13 could not use, in one line without the secret', async () => {
    for (const replica of ['gcs://user:pw-xyz@bucket/wal', 'https://user:pw-xyz@store.example/wal', 's3://ONLYKEY@bucket/wal']) {
      const error = await writeLitestreamConfig(database(), backups(), settings(replica)).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(GuardError);
      expect((error as GuardError).exitCode).toBe(1);
      expect((error as GuardError).message).not.toContain('pw-xyz');
      expect((error as GuardError).message.split('\n')).toHaveLength(1);
    }
  });

  it("is 0600 and its folders are 0700: the archive, the file replica, Litestream's folder beside the database", async () => {
    const { config } = await writeLitestreamConfig(database(), backups(), settings(null));
    expect(await modeOf(config)).toBe(0o600);
    expect(await modeOf(path.dirname(config))).toBe(0o700);
    expect(await modeOf(path.join(path.dirname(config), 'replica'))).toBe(0o700);
    expect(await modeOf(path.join(dir, '.app.db-litestream'))).toBe(0o700);
    expect(await modeOf(backups())).toBe(0o700);
  });
});
