/**
 * The kinds a backup can be. Each has its own folder under the backup folder and its own
 * retention rule. `pre-restore` is only ever read: 0.1 builds kept the copy a restore makes of the
 * database it replaces in `backups/pre-restore/`; those copies now live beside the database
 * (`<db>.pre-restore.<time>`), and the old ones stay listed and are never pruned.
 */
export const BACKUP_KINDS = ['manual', 'pre-rollout', 'pre-restore', 'daily', 'weekly', 'monthly', 'hot'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

/** The kinds `backup --kind` takes and the config can name. */
export const REQUESTABLE_KINDS = ['manual', 'pre-rollout', 'daily', 'weekly', 'monthly', 'hot'] as const satisfies readonly BackupKind[];
export type RequestableKind = (typeof REQUESTABLE_KINDS)[number];
