import path from 'node:path';
import { GuardError } from '../../../errors.ts';
import type { PointInTime } from '../../contract.ts';
import { archiveLag, hasArchive, litestreamBinary, replicateCommand, restoreArchiveToFile, writeLitestreamConfig } from './litestream.ts';

/**
 * SQLite's point in time: Litestream's WAL archive of `database` (an absolute path), kept under
 * the backup folder (`wal-archive/`) unless `archive.replica` names another.
 */
export function litestreamPointInTime(database: string): PointInTime {
  return {
    has: hasArchive,
    lag: (backupDir) => archiveLag(database, backupDir),
    // Its reason says who gave it: messages name no tool of their own.
    async restoreToFile(backupDir, settings, at) {
      const restored = await restoreArchiveToFile(database, backupDir, settings, at);
      return restored.ok ? restored : { ...restored, reason: `litestream: ${restored.reason}` };
    },
    async archive({ backupDir, settings, signal, emit }) {
      const binary = litestreamBinary();
      const { config, env } = await writeLitestreamConfig(database, path.resolve(backupDir), settings);
      const { execa } = await import('execa');
      const replicate = replicateCommand(binary, config);
      const litestream = execa(replicate.file, [...replicate.args], {
        reject: false,
        stdin: 'ignore',
        all: true,
        env,
        cancelSignal: signal,
        forceKillAfterDelay: 10_000,
      });
      let lastLine = '';
      litestream.all?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (line.trim() === '') continue;
          lastLine = line;
          const message = /msg="?([^"]*?)"?(?: \w+=|$)/.exec(line)?.[1] ?? line;
          emit({ type: 'step', message: `litestream: ${message}${/ERROR/.test(line) ? ` (${line})` : ''}` });
        }
      });
      emit({ type: 'step', message: `archiving ${database} with Litestream (config ${config}); stop with Ctrl-C` });
      const result = await litestream;
      if (signal?.aborted) return { config };
      throw new GuardError('USAGE', `litestream stopped on its own (exit ${result.exitCode ?? result.signal}): ${lastLine || 'no output'}`);
    },
  };
}
