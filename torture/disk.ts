/**
 * Full disk: the backup folder and TMPDIR (and SQLite's database file) on a tmpfs of their own,
 * filled so that N bytes are left, N drawn across the sizes where each write happens (the
 * journal, the backup copy or dump, its gzip, the manifest, the pre-restore copy, the restore,
 * the migrations' growth; the dump's proof and a decompressed backup in TMPDIR). Each
 * run must end with a clear one-line error and the contract's exit code, leave nothing listed that
 * is not a verified backup, and the next migrate (once there is room again) must succeed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Case } from './case.ts';
import type { CommandSpec } from './commands.ts';
import { CONFIG } from './fixture.ts';
import { checkBackups, checkDatabase, checkNextMigrate, exists } from './invariants.ts';
import { finalState, type KillContext } from './kill.ts';
import { Rng } from './rng.ts';
import { mountSmallDisk } from './tmpfs.ts';

const PAGE = 4096;

/** Exit codes the contract allows a command on a full disk. */
const ALLOWED_EXITS: Record<string, readonly number[]> = {
  backup: [0, 1],
  migrate: [0, 1, 2, 3],
  down: [0, 1, 2, 3],
  restore: [0, 1, 3],
  'restore-table': [0, 1],
  drill: [0, 1, 4],
};

export const DISK_COMMANDS = [
  'migrate(group)',
  'migrate(per-migration)',
  'down(group)',
  'down(per-migration)',
  'backup',
  'backup --compress',
  'restore',
  'restore(gz)',
  'restore-table --apply',
  'drill',
] as const;

/** The sizes around which something is written: nothing, a page or three, half, all and twice the database, plus its gzip. */
export function edgeSizes(databaseBytes: number, gzipBytes: number): number[] {
  const s = Math.ceil(databaseBytes / PAGE) * PAGE;
  const g = Math.ceil(gzipBytes / PAGE) * PAGE;
  const points = [0, 1, 2, 3].map((pages) => pages * PAGE);
  for (const base of [s / 2, s, s + g, 2 * s, 2 * s + g, 3 * s]) for (const pages of [-1, 0, 1, 2, 3]) points.push(base + pages * PAGE);
  return [...new Set(points.map((n) => Math.max(0, Math.round(n / PAGE) * PAGE)))].sort((a, b) => a - b);
}

export async function diskCase(kase: Case, spec: CommandSpec, context: KillContext, rng: Rng): Promise<void> {
  const { cli, templates, references } = context;
  const reference = references.get(spec.name)!;
  const { engine } = kase;
  const template = await engine.prepare(templates, spec, kase.dir);
  // Drawn here, applied once the database is where it runs (SQLite: on the small disk).
  const variant = new Rng(rng.int(0, 2 ** 31));
  const lowFactor = /^(migrate|down)/.test(spec.name) && rng.chance(0.5);
  if (lowFactor) {
    // Past the preflight's 2x rule, so the journal, the backup copy and the migrations meet the full disk.
    await writeFile(
      path.join(kase.dir, 'migrate-guard.config.mjs'),
      (await readFile(path.join(kase.dir, 'migrate-guard.config.mjs'), 'utf8').catch(() => CONFIG)).replace(
        'export default {',
        'export default { thresholds: { freeSpaceFactor: 0.01 },',
      ),
    );
  }
  const { snapshotBytes, gzipBytes, movedBytes, headroomBytes } = await engine.sizes(template, templates);
  const sizes = edgeSizes(snapshotBytes, gzipBytes);
  const maxFree = 3 * snapshotBytes + 16 * PAGE;
  const wanted = rng.chance(0.6) ? rng.pick(sizes) : rng.int(0, Math.ceil(maxFree / PAGE)) * PAGE;
  Object.assign(kase.params, {
    free: wanted,
    snapshotBytes,
    ...(lowFactor ? { freeSpaceFactor: 0.01 } : {}),
  });

  const diskDir = path.join(kase.dir, 'disk');
  const disk = await mountSmallDisk(diskDir, movedBytes + Math.max(maxFree, headroomBytes) + 64 * PAGE + (8 << 20));
  try {
    const { project, place } = await engine.moveOnDisk(template, diskDir);
    kase.place = place;
    await engine.vary(project, variant, kase.params);
    kase.allowed.set('before', reference.before);
    kase.allowed.set('after', reference.after);
    const free = await disk.fill(wanted);
    kase.params.freeMeasured = free;

    const { result, report } = await kase.run(cli, 'command (full disk)', spec.args(templates, project));
    const family = spec.name.replace(/[( ].*$/, '');
    const exit = result.exitCode ?? -1;
    kase.params.exit = exit;
    if (!(ALLOWED_EXITS[family] ?? [0, 1]).includes(exit)) {
      kase.violate(
        "the contract's exit code on a full disk",
        `${spec.name} exited ${exit} (allowed ${ALLOWED_EXITS[family]?.join('/')}); ${messageOf(report) ?? result.stderr.slice(-300)}`,
      );
    }
    if (exit !== 0) checkOneLineError(kase, spec.name, exit, report, result.stderr);
    if (exit === 3) kase.notes.push(`${spec.name} on a full disk (${free} bytes free) exited 3 (critical): ${messageOf(report)}`);

    // Right away, on the still-full disk: nothing half-written is listed.
    const checkerPlace = { ...place, tmp: context.checkerTmp };
    await checkBackups(kase, { cli, checkerPlace, stage: 'on the full disk' });

    // Room again (the operator freed space). The database as the exit code says (opened only now:
    // a WAL database cannot even be opened on a full tmpfs, its -shm needs room), then the next
    // migrate recovers whatever is left and must succeed.
    await disk.unfill();
    const byExit = new Map(kase.allowed);
    if (exit === 0 && spec.changes) byExit.delete('before');
    if (exit === 1 || exit === 2 || exit === 4) byExit.delete('after');
    const hash = await checkDatabase(
      kase,
      `room again, before any other run (exit ${exit}${exit === 3 ? ': content judged after the recovery' : ''})`,
      exit === 3 ? null : byExit,
    );
    if (exit === 3 && hash === kase.allowed.get('before') && !(await exists(engine.journalOf(project)))) {
      kase.violate(
        'exit 3 only when the database was changed',
        `${spec.name} exited 3 (critical: restore by hand) on a full disk, but the database is exactly as before and no journal asks for a recovery: ${messageOf(report)}`,
      );
    }
    await checkNextMigrate(kase, { cli, checkerPlace, stage: 'room again' }, finalState(kase, spec));
  } finally {
    await disk.unmount();
  }
}

function messageOf(report: Record<string, any> | null): string | null {
  if (!report) return null;
  if (typeof report.error === 'string') return report.error;
  return report.error?.message ?? report.failed?.message ?? report.restoreError ?? null;
}

/** A refusal says what happened in one line: a report with a message, no stack trace. */
function checkOneLineError(kase: Case, name: string, exit: number, report: Record<string, any> | null, stderr: string): void {
  const message = messageOf(report);
  if (message === null) {
    kase.violate('a clear one-line error', `${name} exited ${exit} without a --json report saying why: ${stderr.slice(-300)}`);
    return;
  }
  if (message.includes('\n') || /\n\s+at .+:\d+:\d+/.test(stderr)) {
    kase.violate(
      'a clear one-line error',
      `${name} exited ${exit} with a multi-line error or a stack trace: ${JSON.stringify(message.slice(0, 300))}`,
    );
  }
  if (report?.error?.code === 'INTERNAL')
    kase.notes.push(`${name} on a full disk: an unclassified error (INTERNAL, "${message.slice(0, 160)}")`);
}
