import { afterEach, beforeEach } from 'vitest';
import { TempProject } from './project.ts';

/**
 * A fresh TempProject for each test of the file (its first migration written, and run when
 * `migrate` says so), removed after it; the returned function gives the current one.
 */
export function useTempProject(firstMigration: string, options: { readonly migrate: boolean }): () => TempProject {
  let project: TempProject | null = null;
  beforeEach(async () => {
    project = await TempProject.create();
    await project.writeMigration('001_items.ts', firstMigration);
    if (options.migrate) {
      const result = await project.run(['migrate']);
      if (result.exitCode !== 0) throw new Error(`set-up migrate failed: ${result.all}`);
    }
  });
  afterEach(async () => {
    await project?.cleanup();
    project = null;
  });
  return () => {
    if (!project) throw new Error('useTempProject: no project outside a test');
    return project;
  };
}
