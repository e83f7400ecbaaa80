import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import sqlite3 from 'sqlite3';
import { SqliteConnection } from '../../src/engines/sqlite/connection.ts';
import { watched } from './unexpected-errors.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'bin/migrate-guard.js');

/** A throwaway project folder: its own database, migrations folder and backups folder. */
export class TempProject {
  private constructor(readonly dir: string) {}

  static async create(): Promise<TempProject> {
    const dir = await mkdtemp(path.join(tmpdir(), 'migrate-guard-test-'));
    await mkdir(path.join(dir, 'migrations'));
    return new TempProject(dir);
  }

  get db(): string {
    return path.join(this.dir, 'app.db');
  }
  get migrations(): string {
    return path.join(this.dir, 'migrations');
  }
  get backups(): string {
    return path.join(this.dir, 'backups');
  }

  async writeMigration(file: string, source: string): Promise<string> {
    const full = path.join(this.migrations, file);
    await writeFile(full, source);
    return full;
  }

  async writeConfig(source: string): Promise<void> {
    await writeFile(path.join(this.dir, 'migrate-guard.config.ts'), source);
  }

  /** Runs the real CLI as a subprocess; an env value of `undefined` removes that variable. */
  run(args: readonly string[], options: { env?: Record<string, string | undefined>; shellPrefix?: string } = {}) {
    const env = { DATABASE_URL: this.db, NODE_ENV: 'development', ...options.env };
    const settings = { cwd: this.dir, env, reject: false, all: true, stdin: 'ignore' } as const;
    if (options.shellPrefix) {
      const quoted = [BIN, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
      return watched(args, execa('bash', ['-c', `${options.shellPrefix}; exec node ${quoted}`], settings));
    }
    return watched(args, execa('node', [BIN, ...args], settings));
  }

  /** Every file under the backup folder but the event log, as relative paths. */
  async backupFiles(): Promise<string[]> {
    if (!existsSync(this.backups)) return [];
    const entries = await readdir(this.backups, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && entry.name !== 'events.jsonl')
      .map((entry) => path.relative(this.backups, path.join(entry.parentPath, entry.name)))
      .sort();
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/**
 * The logical content of a database, like `sqlite3 .dump`: every schema object's SQL, then every
 * table's rows in rowid order. Equal dumps mean equal data, whatever the page layout.
 */
export async function dump(file: string): Promise<string> {
  const connection = await SqliteConnection.open(file, 'readonly');
  try {
    const schema = await connection.all<{ type: string; name: string; sql: string | null }>(
      "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    );
    const lines = schema.map((entry) => `${entry.type} ${entry.name}: ${entry.sql}`);
    for (const entry of schema.filter((e) => e.type === 'table')) {
      const rows = await connection.all(`SELECT * FROM "${entry.name.replaceAll('"', '""')}" ORDER BY rowid`);
      for (const row of rows) lines.push(`${entry.name} ${JSON.stringify(row)}`);
    }
    return lines.join('\n');
  } finally {
    await connection.close();
  }
}

export async function query<T = Record<string, unknown>>(file: string, sql: string): Promise<T[]> {
  const connection = await SqliteConnection.open(file, 'readonly');
  try {
    return await connection.all<T>(sql);
  } finally {
    await connection.close();
  }
}

export async function exec(file: string, sql: string): Promise<void> {
  const connection = await SqliteConnection.open(file, 'create');
  try {
    await connection.exec(sql);
  } finally {
    await connection.close();
  }
}

/** Waits until `file` exists (a migration writes it to say "I am running now"). */
export async function waitForFile(file: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${file}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function parseReport(stdout: string): Record<string, any> {
  return JSON.parse(stdout) as Record<string, any>;
}

export { sqlite3 };
