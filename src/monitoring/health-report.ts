import type { ExitCode } from '../errors.ts';
import type { HookResult } from '../hooks/run-hook.ts';

/**
 * What \`health\` reports, in a module of its own: the command builds it, the Prometheus renderer
 * reads it, and neither imports the other.
 */
export type HealthCheck =
  'backup-age' | 'size-change' | 'failed-job' | 'free-space' | 'drill-age' | 'archive-lag' | 'scrub-failed' | 'scrub-age';

export interface HealthAlert {
  readonly check: HealthCheck;
  readonly message: string;
}

export interface HealthReport {
  readonly command: 'health';
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly newestVerified: { readonly path: string; readonly kind: string; readonly createdAt: string; readonly ageHours: number } | null;
  readonly alerts: readonly HealthAlert[];
  readonly freeBytes: number;
  readonly databaseBytes: number;
  /** With a local WAL archive: the newest archived point, and how far the database is ahead of it. */
  readonly archive: { readonly recoveryPoint: string | null; readonly lagSeconds: number | null } | null;
  /** The newest verified backup of each kind that has one. */
  readonly kinds: readonly {
    readonly kind: string;
    readonly path: string;
    readonly createdAt: string;
    readonly ageSeconds: number;
    readonly bytes: number;
  }[];
  /** The last run of each job (per kind), from the event log. */
  readonly jobs: readonly { readonly job: string; readonly kind: string | null; readonly time: string; readonly ok: boolean }[];
  /** The last successful restore drill. */
  readonly drill: { readonly lastSuccess: string | null; readonly ageSeconds: number | null };
  /** The last scrub (`verify --all`) and the backups that failed theirs. */
  readonly scrub: { readonly lastRun: string | null; readonly ageSeconds: number | null; readonly failed: readonly string[] };
  /** The Prometheus metrics file written, or null. */
  readonly prometheus: string | null;
  readonly hooks: readonly HookResult[];
}
