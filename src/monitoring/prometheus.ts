import type { HealthReport } from './health-report.ts';
import { GuardError, messageOf } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import type { FileMode } from '../fs/file-mode.ts';

/**
 * `health --prometheus <file>`: the health report in the Prometheus text exposition format, for
 * node_exporter's textfile collector (`--collector.textfile.directory`). Every metric is a gauge
 * named `migrate_guard_…` with its `# HELP` and `# TYPE` lines; a value that is not known (no
 * drill yet, no archive) has no sample rather than a made-up one.
 */

/** Metrics hold no data, and node_exporter runs as another user: readable by all, whatever the umask. */
const METRICS_MODE: FileMode = 0o644;

type Labels = Readonly<Record<string, string | null>>;

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly samples: readonly { readonly labels?: Labels; readonly value: number }[];
}

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** HELP text escapes backslash and newline. */
function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  const pairs = Object.entries(labels ?? {}).map(([key, value]) => `${key}="${escapeLabelValue(value ?? '')}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

export function renderPrometheus(report: Omit<HealthReport, 'hooks'>): string {
  const known = (value: number | null | undefined): { value: number }[] => (value === null || value === undefined ? [] : [{ value }]);
  const metrics: Metric[] = [
    {
      name: 'migrate_guard_backup_age_seconds',
      help: 'Age of the newest verified backup of each kind.',
      samples: report.kinds.map((entry) => ({ labels: { kind: entry.kind }, value: entry.ageSeconds })),
    },
    {
      name: 'migrate_guard_backup_bytes',
      help: 'Size on disk of the newest verified backup of each kind (gzipped size for a compressed one).',
      samples: report.kinds.map((entry) => ({ labels: { kind: entry.kind }, value: entry.bytes })),
    },
    {
      name: 'migrate_guard_job_last_success',
      help: 'Whether the last run of each job (per kind) succeeded: 1, or failed: 0.',
      samples: report.jobs.map((job) => ({ labels: { job: job.job, kind: job.kind }, value: job.ok ? 1 : 0 })),
    },
    {
      name: 'migrate_guard_job_last_run_timestamp_seconds',
      help: 'When each job (per kind) last ran, as a Unix time.',
      samples: report.jobs.map((job) => ({ labels: { job: job.job, kind: job.kind }, value: Math.round(Date.parse(job.time) / 1000) })),
    },
    { name: 'migrate_guard_drill_age_seconds', help: 'Age of the last successful restore drill.', samples: known(report.drill.ageSeconds) },
    {
      name: 'migrate_guard_scrub_age_seconds',
      help: 'Age of the last scrub (verify --all) of the stored backups.',
      samples: known(report.scrub.ageSeconds),
    },
    {
      name: 'migrate_guard_scrub_failed_backups',
      help: 'Backups that failed their last scrub and no longer count as verified.',
      samples: [{ value: report.scrub.failed.length }],
    },
    {
      name: 'migrate_guard_archive_lag_seconds',
      help: 'How far the database is ahead of its WAL archive.',
      samples: known(report.archive?.lagSeconds),
    },
    { name: 'migrate_guard_free_bytes', help: 'Bytes free for backups in the backup folder.', samples: [{ value: report.freeBytes }] },
    {
      name: 'migrate_guard_database_bytes',
      help: 'Size of the database, committed WAL included.',
      samples: [{ value: report.databaseBytes }],
    },
    { name: 'migrate_guard_alerts', help: 'Number of health alerts (0: healthy).', samples: [{ value: report.alerts.length }] },
  ];
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} gauge`);
    for (const sample of metric.samples) lines.push(`${metric.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Atomically (a temporary name in the same folder, which the collector ignores as it does not end
 * in `.prom`, then a rename): node_exporter never reads half a file.
 */
export async function writePrometheusFile(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text, METRICS_MODE);
  } catch (error) {
    throw new GuardError('USAGE', `cannot write the metrics file ${file}: ${messageOf(error)}`, { cause: error });
  }
}
