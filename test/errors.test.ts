import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { engineDiskFull, engineIoError } from '../src/engines/registry.ts';
import { GuardError, isDiskFull, isIoError } from '../src/errors.ts';

describe('isDiskFull', () => {
  // Mounting a tmpfs needs root (CI runs as root).
  it.skipIf(process.getuid?.() !== 0)("recognises a real ENOSPC from Node's file system", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mg-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    try {
      const error = await writeFile(path.join(dir, 'big'), Buffer.alloc(1024 * 1024)).catch((caught: unknown) => caught);
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(isDiskFull(error)).toBe(true);
      expect(isDiskFull(new Error('could not finish', { cause: error }))).toBe(true);
      expect(isDiskFull(new AggregateError([new Error('other'), error], 'two failures'))).toBe(true);
    } finally {
      await execa('umount', [dir]).catch(() => execa('umount', ['-l', dir]));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("recognises SQLite's SQLITE_FULL as node-sqlite3 reports it", () => {
    const sqlite = Object.assign(new Error('SQLITE_FULL: database or disk is full'), { errno: 13, code: 'SQLITE_FULL' });
    expect(isDiskFull(sqlite, engineDiskFull)).toBe(true);
    expect(isDiskFull(new Error('SQLITE_FULL: database or disk is full'), engineDiskFull)).toBe(true);
  });

  it("recognises PostgreSQL's disk_full (SQLSTATE 53100) through causes", () => {
    const postgres = Object.assign(new Error('could not extend file "base/16384/16385": wrote only 4096 of 8192 bytes'), { code: '53100' });
    expect(isDiskFull(new Error('migration failed', { cause: postgres }), engineDiskFull)).toBe(true);
  });

  it('does not call other failures a full disk', () => {
    expect(isDiskFull(new Error('SQLITE_CONSTRAINT: FOREIGN KEY constraint failed'), engineDiskFull)).toBe(false);
    expect(isDiskFull(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }))).toBe(false);
    expect(isDiskFull(new GuardError('LOCK_HELD', 'another run holds the lock'))).toBe(false);
    expect(isDiskFull('a string')).toBe(false);
    expect(isDiskFull(null)).toBe(false);
  });
});

describe('isIoError', () => {
  it("recognises SQLite's SQLITE_IOERR as node-sqlite3 reports it, and Node's EIO, through causes", () => {
    const sqlite = Object.assign(new Error('SQLITE_IOERR: disk I/O error'), { errno: 10, code: 'SQLITE_IOERR' });
    expect(isIoError(sqlite, engineIoError)).toBe(true);
    expect(isIoError(new Error('copy failed', { cause: Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }) }))).toBe(true);
    expect(isIoError(new Error('SQLITE_IOERR_WRITE: disk I/O error'), engineIoError)).toBe(true);
    expect(isIoError(new Error('SQLITE_CONSTRAINT: UNIQUE constraint failed'), engineIoError)).toBe(false);
    expect(isIoError(new TypeError("Cannot read properties of undefined (reading 'name')"))).toBe(false);
  });
});
