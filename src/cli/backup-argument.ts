import type { CommandContext } from './command.ts';

/** A `<backup>` argument (a file, or its name in the backup folder) as a path. */
export async function backupFile(argument: string, { locations, cli }: CommandContext): Promise<string> {
  // Loaded on use, like the commands themselves.
  const { resolveBackupArgument } = await import('../backup/store.ts');
  return resolveBackupArgument(argument, locations.backupDir, cli.cwd);
}
