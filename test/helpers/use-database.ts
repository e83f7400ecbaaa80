import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { TempProject } from './project.ts';
import type { TestDatabase } from './databases.ts';

/** How a test file gets databases of one engine. */
export interface DatabaseMaker {
  /** A database no other test uses, not migrated yet; `drop` removes it. */
  fresh(project: TempProject): Promise<TestDatabase>;
  /** A database of its own for a test in `project`, a copy of `template`. */
  copy(template: TestDatabase, project: TempProject): Promise<TestDatabase>;
}

/**
 * For each test of the enclosing block: a TempProject holding `migrations` and a database of its
 * own with them applied. The real `migrate` runs once, in beforeAll, on a template; each test gets
 * a copy of it (a file copy, CREATE DATABASE … TEMPLATE), dropped after the test.
 */
export function useMigratedDatabase(
  maker: DatabaseMaker,
  migrations: Readonly<Record<string, string>>,
): () => { project: TempProject; db: TestDatabase } {
  let template: { project: TempProject; db: TestDatabase } | null = null;
  let current: { project: TempProject; db: TestDatabase } | null = null;
  const writeMigrations = async (project: TempProject) => {
    for (const [file, source] of Object.entries(migrations)) await project.writeMigration(file, source);
  };
  beforeAll(async () => {
    const project = await TempProject.create();
    template = { project, db: await maker.fresh(project) };
    await writeMigrations(project);
    const migrated = await project.run(['migrate'], { env: { DATABASE_URL: template.db.url } });
    expect(migrated.exitCode, migrated.all).toBe(0);
  });
  afterAll(async () => {
    await template?.db.drop();
    await template?.project.cleanup();
  });
  beforeEach(async () => {
    const project = await TempProject.create();
    await writeMigrations(project);
    current = { project, db: await maker.copy(template!.db, project) };
  });
  afterEach(async () => {
    await current?.db.drop();
    await current?.project.cleanup();
    current = null;
  });
  return () => {
    if (!current) throw new Error('useMigratedDatabase: no database outside a test');
    return current;
  };
}
