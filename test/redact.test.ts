import { describe, expect, it } from 'vitest';
import { databasePathFromUrl } from '../src/engines/sqlite/file.ts';
import { redact, redactText, splitCredentials } from '../src/redact.ts';

describe('redact', () => {
  it('hides the password of a URL of any scheme and keeps user, host and path', () => {
    expect(redact('postgres://user:pass@host/db')).toBe('postgres://user:***@host/db');
    expect(redact('postgresql://app:p%40ss@db.internal:5432/dms?sslmode=require')).toBe(
      'postgresql://app:***@db.internal:5432/dms?sslmode=require',
    );
    expect(redact('s3://KEY:SECRET@bucket/dms/db')).toBe('s3://KEY:***@bucket/dms/db');
    expect(redact('https://user:pass@example.com/path')).toBe('https://user:***@example.com/path');
    expect(redact('sqlite://admin:hunter2@/srv/dms/app.db')).toBe('sqlite://admin:***@/srv/dms/app.db');
  });

  it('finds a secret written without encoding its / or @', () => {
    expect(redact('s3://AKIA:abc/def+g@h@bucket/path')).toBe('s3://AKIA:***@bucket/path');
  });

  it('hides secret query parameters', () => {
    expect(redact('postgres://host/db?user=app&password=pw&sslmode=require')).toBe(
      'postgres://host/db?user=app&password=***&sslmode=require',
    );
    expect(redact('https://store.example/x?sig=abc&se=2026')).toBe('https://store.example/x?sig=***&se=2026');
    expect(redact('https://store.example/x?api_key=abc#top')).toBe('https://store.example/x?api_key=***#top');
  });

  it('leaves what has no secret as it was: paths, sqlite: and file: forms, a user without password', () => {
    for (const location of [
      '/srv/dms/app.db',
      './app.db',
      'sqlite:app.db',
      'sqlite:///srv/a@b/app.db',
      'file:///srv/dms/app.db',
      'postgres://app@host/db',
      'C:\\dms\\app.db',
    ]) {
      expect(redact(location)).toBe(location);
    }
  });

  it('redacts every URL inside a text', () => {
    expect(redactText('could not connect to postgres://u:pw1@h/db, then s3://K:pw2@b/p failed')).toBe(
      'could not connect to postgres://u:***@h/db, then s3://K:***@b/p failed',
    );
    expect(redactText('"replica": "s3://K:pw@b/p"')).toBe('"replica": "s3://K:***@b/p"');
  });

  it('splits the credentials out of a URL, decoded', () => {
    expect(splitCredentials('s3://AKIA:s%2Fcr%40t@bucket/path')).toEqual({ url: 's3://bucket/path', username: 'AKIA', password: 's/cr@t' });
    expect(splitCredentials('sftp://backup@host/path')).toEqual({ url: 'sftp://host/path', username: 'backup', password: null });
    expect(splitCredentials('/srv/app.db')).toEqual({ url: '/srv/app.db', username: null, password: null });
  });
});

describe('a SQLite DATABASE_URL with a password', () => {
  it('resolves to the path alone: the password never becomes part of the path', () => {
    expect(databasePathFromUrl('sqlite://admin:hunter2@/srv/dms/app.db', '/work')).toBe('/srv/dms/app.db');
    expect(databasePathFromUrl('file://admin:hunter2@/srv/dms/app.db', '/work')).toBe('/srv/dms/app.db');
  });

  it('is refused without its password in the message', () => {
    expect(() => databasePathFromUrl('sqlite://admin:hunter2@', '/work')).toThrow(
      /^DATABASE_URL "sqlite:\/\/admin:\*\*\*@" does not name a database file$/,
    );
  });
});
