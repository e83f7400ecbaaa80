// The public API: every command as a library function, the config helpers, the errors and the
// types their reports and options use. Nothing else is exported; paths below may move.
export { runMigrate } from './commands/migrate.ts';
export type { MigrateOptions, MigrateReport, MigrationOutcome, MigrationStatus, RunFailure } from './commands/migrate.ts';
export { runDryRun } from './commands/dry-run.ts';
export type { DryRunOptions, DryRunReport, PlannedMigration } from './commands/dry-run.ts';
export { runStatus } from './commands/status.ts';
export type { StatusReport } from './commands/status.ts';
export { runMake } from './commands/make.ts';
export { runBaseline } from './commands/baseline.ts';
export type { BaselineReport } from './commands/baseline.ts';
export { runBackup } from './commands/backup.ts';
export type { BackupReport } from './commands/backup.ts';
export { runBackups } from './commands/backups.ts';
export { runVerify } from './commands/verify.ts';
export type { VerifyReport } from './commands/verify.ts';
export { runScrub } from './commands/scrub.ts';
export type { ScrubOptions, ScrubReport, ScrubbedBackup } from './commands/scrub.ts';
export { runPrune } from './commands/prune.ts';
export type { PruneReport } from './commands/prune.ts';
export { runHealth } from './commands/health.ts';
export type { HealthReport, HealthAlert } from './commands/health.ts';
export { runRestore, parseRestoreTime } from './commands/restore.ts';
export type { RestoreReport, RestoreTarget } from './commands/restore.ts';
export { runRestoreTable } from './commands/restore-table.ts';
export type { RestoreTableReport } from './commands/restore-table.ts';
export { runDrill } from './commands/drill.ts';
export type { DrillReport } from './commands/drill.ts';
export { runArchive } from './commands/archive.ts';

export { createBackup } from './backup/create.ts';
export type { CreateBackupOptions, VerifiedBackup } from './backup/create.ts';
export { readManifest } from './backup/manifest.ts';
export type { BackupManifest } from './backup/manifest.ts';
export type { BackupKind } from './backup/kinds.ts';
export { planRetention, DEFAULT_RETENTION } from './backup/retention.ts';
export type { RetentionPolicy, RetentionDecision } from './backup/retention.ts';
export { prepareBackup } from './restore/prepare.ts';
export type { PreparedBackup } from './restore/prepare.ts';
export { restoreFull } from './restore/restore-full.ts';
export type { RestoreOptions, RestoreProof } from './restore/restore-full.ts';
export { runChecks } from './checks/run.ts';
export type { CheckResult, CheckContext, CustomCheck } from './checks/contract.ts';

export { engineFor } from './engines/select.ts';
export type { Engine, EngineKind, DatabaseFacts, Reader, IntegrityLevel, IntegrityResult } from './engines/contract.ts';
export { resolveHistory, recordedMigrations } from './history/select.ts';
export { MIGRATIONS_TABLE } from './history/guard-table.ts';
export type { MigrationHistory, AppliedMigration } from './history/contract.ts';

export { defineConfig, loadConfig, resolveConfig } from './config/load.ts';
export { resolveLocations } from './config/locations.ts';
export type { GuardConfig, ResolvedConfig } from './config/schema.ts';
export type { Locations } from './config/locations.ts';
export { GuardError } from './errors.ts';
export { redact, redactText } from './redact.ts';
export type { GuardErrorCode, ExitCode, SourceLocation } from './errors.ts';
export type { GuardEvent } from './events.ts';
