/**
 * Concurrent jobs: two commands on one database or one backup folder at once, the second started
 * at a random moment of the first's run (or the same instant); or a restore while the
 * application writer commits all along. Each pair must end in a defined
 * outcome (both succeed, or one waits, or one refuses with exit 1 naming the holder) and the
 * invariants must hold.
 */
import path from 'node:path';
import type { Case } from './case.ts';
import { commandNamed, type CommandSpec } from './commands.ts';
import { exists } from './invariants.ts';
import { settle, type KillContext } from './kill.ts';
import { sleep, type Running } from './proc.ts';
import type { Rng } from './rng.ts';
import type { Pace, Writer } from './writer.ts';

export const PAIRS = [
  'backup during migrate',
  'prune during backup',
  'restore during archive',
  'restore during a writer',
  'two migrates at once',
  'drill during a daily backup',
] as const;
export type Pair = (typeof PAIRS)[number];

interface Started {
  readonly label: string;
  readonly running: Running;
}

export async function concurrencyCase(kase: Case, pair: Pair, context: KillContext, rng: Rng): Promise<void> {
  const { cli, templates, references } = context;
  const migrateSpec = commandNamed(rng.pick(['migrate(group)', 'migrate(per-migration)']));
  const first: CommandSpec =
    pair === 'backup during migrate' || pair === 'two migrates at once'
      ? migrateSpec
      : pair === 'restore during archive' || pair === 'restore during a writer'
        ? commandNamed('restore')
        : commandNamed('backup');
  const { engine } = kase;
  const project = await engine.prepare(templates, first, kase.dir);
  kase.place = { project, tmp: path.join(kase.dir, 'tmp') };
  await engine.vary(project, rng, kase.params, pair === 'restore during archive' ? 'wal' : undefined);
  const reference = references.get(first.name)!;
  kase.allowed.set('before', reference.before);
  kase.allowed.set('after', reference.after);
  const pace: Pace | 'none' =
    pair === 'restore during a writer' ? rng.weighted({ calm: 1, busy: 2 } as const) : rng.weighted({ none: 2, calm: 1 } as const);
  Object.assign(kase.params, { writer: pace });
  let writer: Writer | null = null;
  if (pace !== 'none') {
    kase.idsFile = path.join(kase.dir, 'writer-tags.txt');
    writer = await engine.startWriter(project, kase.idsFile, `c${kase.index}`, rng.int(1, 1e9), pace);
  }
  const start = (label: string, args: readonly string[]): Started => ({ label, running: cli.start(kase.place, args) });
  const finish = async ({ label, running }: Started) => kase.log(label, running, await running.done);
  try {
    switch (pair) {
      case 'backup during migrate': {
        const compress = rng.chance(0.5);
        const delay = rng.between(0, reference.ms);
        Object.assign(kase.params, { migrate: migrateSpec.name, compress, delay: Math.round(delay) });
        const migrate = start('migrate', ['migrate', '--json']);
        await sleep(delay);
        const backup = start('backup', ['backup', ...(compress ? ['--compress'] : []), '--json']);
        const [m, b] = [await finish(migrate), await finish(backup)];
        expectExit(kase, 'migrate', m.result.exitCode, [0]);
        expectExit(kase, 'backup', b.result.exitCode, [0]);
        // The backup is one consistent snapshot: before the rollout or after it (a group run has
        // nothing in between; a per-migration run commits each migration, so it has).
        const file = b.report?.backup?.path as string | undefined;
        if (migrateSpec.name === 'migrate(group)' && file && (await exists(file)))
          await checkSnapshotContent(kase, file, Boolean(b.report?.backup?.compressed), context.checkerTmp);
        break;
      }
      case 'prune during backup': {
        const compress = rng.chance(0.5);
        const kind = rng.pick(['daily', 'manual', 'hot'] as const);
        const delay = rng.between(0, references.get(compress ? 'backup --compress' : 'backup')!.ms);
        Object.assign(kase.params, { kind, compress, delay: Math.round(delay) });
        const backup = start('backup', ['backup', '--kind', kind, ...(compress ? ['--compress'] : []), '--json']);
        await sleep(delay);
        const prune = start('prune', ['prune', '--json']);
        const [b, p] = [await finish(backup), await finish(prune)];
        expectExit(kase, 'backup', b.result.exitCode, [0]);
        expectExit(kase, 'prune', p.result.exitCode, [0]);
        const file = b.report?.backup?.path as string | undefined;
        if (b.result.exitCode === 0 && file && !(await exists(file))) {
          kase.violate(
            'a backup reported as written is there',
            `backup reported ${file}, which prune (${(p.report?.removed as string[] | undefined)?.includes(file) ? 'removed it' : 'did not list it'}) left missing`,
          );
        }
        break;
      }
      case 'restore during archive': {
        const wait = 1500 + rng.between(0, 1500);
        Object.assign(kase.params, { restoreAfter: Math.round(wait) });
        const archive = start('archive', ['archive', '--json']);
        await sleep(wait);
        const restore = await kase.run(cli, 'restore', commandNamed('restore').args(templates, project));
        expectExit(kase, 'restore', restore.result.exitCode, [0]);
        await sleep(1000);
        archive.running.kill('SIGTERM');
        const a = await finish(archive);
        expectExit(kase, 'archive (stopped with SIGTERM)', a.result.exitCode, [0]);
        await kase.reapOrphans('archive after SIGTERM', archive.running);
        break;
      }
      case 'restore during a writer': {
        // The application commits all along; the restore locks its tables, keeps a pre-restore
        // copy and replaces them: each row the writer saw committed is in one or the other.
        const wait = rng.between(0, 1500);
        Object.assign(kase.params, { restoreAfter: Math.round(wait) });
        await sleep(wait);
        const restore = await kase.run(cli, 'restore', commandNamed('restore').args(templates, project));
        expectExit(kase, 'restore', restore.result.exitCode, [0]);
        await sleep(rng.between(0, 1000));
        break;
      }
      case 'two migrates at once': {
        Object.assign(kase.params, { migrate: migrateSpec.name });
        const a = start('migrate A', ['migrate', '--json']);
        const b = start('migrate B', ['migrate', '--json']);
        const results = [await finish(a), await finish(b)];
        const codes = results.map((r) => r.result.exitCode);
        kase.params.exits = codes.join(',');
        const both = codes.every((code) => code === 0);
        const oneRefused = codes.includes(0) && codes.includes(1);
        if (!both && !oneRefused) kase.violate('two migrates: both succeed, or one refuses (exit 1)', `exit codes ${codes.join(' and ')}`);
        results.forEach((r, index) => {
          if (r.result.exitCode !== 1) return;
          const other = [a, b][1 - index]!.running.pid;
          const error = r.report?.error as { code?: string; message?: string } | undefined;
          if (error?.code !== 'LOCK_HELD' || !engine.namesHolder(error.message ?? '', other)) {
            kase.violate(
              'a refused migrate names the holder',
              `migrate ${index === 0 ? 'A' : 'B'} refused with ${error?.code}: ${error?.message} (the holder is pid ${other})`,
            );
          }
        });
        break;
      }
      case 'drill during a daily backup': {
        const delay = rng.between(0, references.get('backup --compress')!.ms);
        Object.assign(kase.params, { delay: Math.round(delay) });
        const backup = start('backup', ['backup', '--kind', 'daily', '--json']);
        await sleep(delay);
        const drill = start('drill', ['drill', '--json']);
        const [b, d] = [await finish(backup), await finish(drill)];
        expectExit(kase, 'backup --kind daily', b.result.exitCode, [0]);
        expectExit(kase, 'drill', d.result.exitCode, [0]);
        break;
      }
    }
  } finally {
    if (writer) kase.params.writerStopped = await writer.stop();
  }
  // A rollout ends migrated; a restore that succeeded beside a writer holds the backup's content.
  const restored = pair === 'restore during a writer' && kase.violations.length === 0;
  const final = first.name.startsWith('migrate') || restored ? new Map([['after', reference.after]]) : kase.allowed;
  await settle(kase, context, first, final);
}

function expectExit(kase: Case, label: string, code: number | null, allowed: readonly number[]): void {
  if (code === null || !allowed.includes(code)) {
    const log = [...kase.processes].reverse().find((p) => p.label === label || p.label.startsWith(label.split(' ')[0]!));
    kase.violate(
      'concurrent jobs end in a defined outcome',
      `${label} exited ${code} (expected ${allowed.join('/')}): ${log?.stdout.match(/"message":\s*"([^"]*)"/)?.[1] ?? log?.stderr.split('\n').at(-1) ?? ''}`,
    );
  }
}

/** A backup taken during a rollout holds the database before it or after it, never between. */
async function checkSnapshotContent(kase: Case, file: string, compressed: boolean, tmp: string): Promise<void> {
  const hash = await kase.engine
    .snapshotContentHash(file, compressed, tmp)
    .catch((error: unknown) => `unreadable: ${(error as Error).message}`);
  if (![...kase.allowed.values()].includes(hash)) {
    kase.violate('a backup taken during a rollout is the database before or after it', `${file}: content ${hash}`);
  }
}
