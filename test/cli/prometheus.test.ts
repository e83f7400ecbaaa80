import { beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TempProject } from '../helpers/project.ts';
import { parseReport } from '../helpers/project.ts';
import { useTempProject } from '../helpers/use-project.ts';
import { createItems } from '../helpers/migrations.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';

const current = useTempProject(createItems, { migrate: true });
let project: TempProject;
beforeEach(() => {
  project = current();
});

describe('health --prometheus', () => {
  it('writes node_exporter textfile metrics atomically, mode 0644 whatever the umask, that parse', async () => {
    expect((await project.run(['backup', '--kind', 'daily'])).exitCode).toBe(0);
    await project.run(['verify', '--all']);
    await project.run(['drill']);
    const file = path.join(project.dir, 'metrics', 'migrate-guard.prom');
    await mkdir(path.dirname(file));
    const result = await project.run(['health', '--prometheus', file, '--json'], { shellPrefix: 'umask 077' });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(parseReport(result.stdout).prometheus).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o644);

    const metrics = parsePrometheus(await readFile(file, 'utf8'));
    for (const [name, metric] of metrics) {
      expect(name.startsWith('migrate_guard_')).toBe(true);
      expect(metric.type).toBe('gauge');
    }
    const sample = (name: string, labels: Record<string, string> = {}) =>
      metrics.get(name)?.samples.find((entry) => JSON.stringify(entry.labels) === JSON.stringify(labels))?.value;
    expect(sample('migrate_guard_backup_age_seconds', { kind: 'daily' })).toBeGreaterThanOrEqual(0);
    expect(sample('migrate_guard_backup_age_seconds', { kind: 'pre-rollout' })).toBeGreaterThanOrEqual(0);
    expect(sample('migrate_guard_backup_bytes', { kind: 'daily' })).toBeGreaterThan(0);
    expect(sample('migrate_guard_job_last_success', { job: 'backup', kind: 'daily' })).toBe(1);
    expect(sample('migrate_guard_job_last_success', { job: 'scrub', kind: '' })).toBe(1);
    expect(sample('migrate_guard_drill_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample('migrate_guard_scrub_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample('migrate_guard_scrub_failed_backups')).toBe(0);
    expect(sample('migrate_guard_free_bytes')).toBeGreaterThan(0);
    expect(sample('migrate_guard_alerts')).toBe(0);
    expect(metrics.get('migrate_guard_archive_lag_seconds')?.samples).toEqual([]);
    // Nothing but the metrics file in its folder: the temporary file was renamed into place.
    expect(await readdir(path.dirname(file))).toEqual(['migrate-guard.prom']);
  });

  it('refuses a folder that does not exist in one line, exit 1', async () => {
    const result = await project.run(['health', '--prometheus', path.join(project.dir, 'nope', 'x.prom')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('cannot write the metrics file');
  });
});
