/**
 * `npm run torture [-- --runs N] [--seed S] [--engine sqlite|postgres] [--only kill|disk|concurrency] [--bin path]`
 *
 * `--engine postgres` runs the same cases on PostgreSQL (MIGRATE_GUARD_TORTURE_PG, default
 * postgres://postgres@127.0.0.1:5432/postgres): a database of its own per case, dropped after it.
 *
 * Seeded torture of the real CLI: random SIGKILLs of every writing command (and of the application
 * writer beside it, and of the recovery itself), full disks at the sizes where each write happens,
 * and concurrent jobs; after every case the invariants in invariants.ts. Prints the seed first, a
 * line per case, then a summary table; exits 1 on any violation. Not part of `npm test`.
 *
 * `--command NAME` draws only commands (or concurrent pairs) whose label starts with NAME;
 * `--case I` replays case I of a seed alone; `--minutes M` stops starting cases after M minutes;
 * `--keep` keeps every case's folder (by default only those with a violation are kept).
 * `--load` runs every case on a loaded machine (load.ts: a CPU hog per core, an fsync-heavy writer on
 * the same file system); then no output of any case may say "unexpected error".
 * `--allow-known` (CI) exits 0 when every violation is explained by a known bug (known-bugs.ts),
 * each of which has its `it.fails` regression test; a new kind of violation still exits 1.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Case, KINDS, type Kind } from './case.ts';
import { commandNamed, referenceRuns } from './commands.ts';
import { concurrencyCase, type Pair } from './concurrency.ts';
import { diskCase } from './disk.ts';
import type { TortureEngine } from './engine.ts';
import { TORTURE_ENGINES } from './engines.ts';
import { knownGoodBackups, sha256File } from './invariants.ts';
import { killCase } from './kill.ts';
import { startLoad } from './load.ts';
import { KNOWN_BUGS, knownBugsOf } from './known-bugs.ts';
import { Cli, tail } from './proc.ts';
import { Rng } from './rng.ts';
import { canMountTmpfs } from './tmpfs.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '40' },
    seed: { type: 'string' },
    engine: { type: 'string', default: 'sqlite' },
    only: { type: 'string' },
    command: { type: 'string' },
    bin: { type: 'string', default: path.join(REPO, 'bin/migrate-guard.js') },
    case: { type: 'string' },
    minutes: { type: 'string' },
    keep: { type: 'boolean', default: false },
    load: { type: 'boolean', default: false },
    'allow-known': { type: 'boolean', default: false },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const runs = Number(values.runs);
const only = values.only as Kind | undefined;
const chosen = (TORTURE_ENGINES as Record<string, TortureEngine | undefined>)[values.engine];
if (!Number.isInteger(seed) || !Number.isInteger(runs) || runs < 1 || (only !== undefined && !KINDS.includes(only)) || !chosen) {
  console.error(
    'usage: torture/run.ts [--runs N] [--seed S] [--engine sqlite|postgres] [--only kill|disk|concurrency] [--command NAME] [--bin path/to/migrate-guard.js] [--case I] [--minutes M] [--keep] [--load] [--allow-known]',
  );
  process.exit(64);
}
const engine: TortureEngine = chosen;
const engineArg = engine.name === 'sqlite' ? '' : ` --engine ${engine.name}`;
console.log(
  `torture seed ${seed} (replay: npm run torture -- --seed ${seed} --runs ${runs}${engineArg}${only ? ` --only ${only}` : ''}${values.load ? ' --load' : ''})`,
);
const bin = path.resolve(values.bin);
const startedAt = performance.now();
const deadline = values.minutes === undefined ? Infinity : startedAt + Number(values.minutes) * 60_000;
const log = (line: string) => console.log(line);

// What this machine allows.
const skipped = await engine.unavailable(log);
const work = await mkdtemp(path.join(tmpdir(), 'migrate-guard-torture-'));
const mountProblem = await canMountTmpfs(path.join(work, 'mount-probe'));
if (mountProblem) log(`skipping full-disk cases: cannot mount a tmpfs here (${mountProblem}); run as root where mount is allowed`);

const cli = new Cli(await snapshotCli(bin, path.join(work, 'cli')));
console.log(
  `cli: ${bin} (its bin/ and dist/ copied to ${path.dirname(cli.bin)}/.., so a rebuild meanwhile cannot change the code under test)`,
);

/**
 * The build under test, frozen: `bin/` and `dist/` beside the given bin copied into the work
 * folder, with this repository's package.json and node_modules. `npm run build` (vitest runs it)
 * deletes dist/ first, which would fail every CLI run of a torture going on meanwhile.
 */
async function snapshotCli(given: string, target: string): Promise<string> {
  const root = path.dirname(path.dirname(given));
  if (!existsSync(path.join(root, 'dist'))) throw new Error(`no dist/ beside ${given}: run npm run build (npm run torture does)`);
  await mkdir(target, { recursive: true });
  await cp(path.join(root, 'bin'), path.join(target, 'bin'), { recursive: true });
  await cp(path.join(root, 'dist'), path.join(target, 'dist'), { recursive: true });
  await cp(path.join(REPO, 'package.json'), path.join(target, 'package.json'));
  await symlink(path.join(REPO, 'node_modules'), path.join(target, 'node_modules'));
  return path.join(target, 'bin', path.basename(given));
}
let phase = performance.now();
const templates = await engine.buildTemplates(work, cli);
// Ended by a signal (Ctrl-C) or a throw: a server's templates are dropped all the same.
const closeTemplates = () => engine.close(templates).catch(() => undefined);
let interrupted = false;
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    interrupted = true;
    void closeTemplates().finally(() => process.exit(code));
  });
}
for (const project of [templates.base, ...Object.values(templates.applied)]) {
  for (const entry of await readdir(project.backups, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(db|dump)(\.gz)?$/.test(entry.name) || entry.name.startsWith('.')) continue;
    const file = path.join(entry.parentPath, entry.name);
    // The same bytes in another template's folder (copied with it) were proven already.
    const sha = await sha256File(file);
    if (knownGoodBackups.has(sha)) continue;
    const verified = await cli.run(project, ['verify', file, '--json']);
    if (verified.exitCode !== 0) throw new Error(`template backup ${file} fails verify: ${tail(verified.stdout + verified.stderr)}`);
    knownGoodBackups.add(sha);
  }
}
log(`templates built and their backups verified in ${((performance.now() - phase) / 1000).toFixed(1)} s (${work})`);
phase = performance.now();
const references = await referenceRuns(cli, engine, templates, work, skipped);
log(
  `reference runs (no kill) in ${((performance.now() - phase) / 1000).toFixed(1)} s: ${[...references].map(([name, ref]) => `${name} ${ref.ms} ms`).join(', ')}`,
);
const checkerTmp = path.join(work, 'checker-tmp');
await mkdir(checkerTmp, { recursive: true });
const context = { cli, templates, references, checkerTmp };

/** What case `index` is: drawn from the seed alone. */
function draw(index: number): { kind: Kind; command: string; rng: Rng } {
  const rng = Rng.forCase(seed, index);
  const kinds = KINDS.filter((kind) => (only ? kind === only : true) && !(kind === 'disk' && mountProblem));
  const kind = rng.weighted(Object.fromEntries(kinds.map((k) => [k, k === 'kill' ? 5 : k === 'disk' ? 3 : 2])) as Record<Kind, number>);
  const pool: readonly string[] =
    kind === 'kill'
      ? engine.commands.filter((name) => !skipped.has(name))
      : kind === 'disk'
        ? engine.diskCommands
        : engine.pairs.filter((pair) => !skipped.has(pair));
  const chosen = values.command === undefined ? pool : pool.filter((name) => name.startsWith(values.command!));
  return { kind, command: rng.pick(chosen.length > 0 ? chosen : pool), rng };
}

const cases: Case[] = [];
const indexes = values.case === undefined ? Array.from({ length: runs }, (_, i) => i) : [Number(values.case)];
let kept = 0;
for (const index of indexes) {
  if (interrupted) break;
  if (performance.now() > deadline) {
    log(`stopping: --minutes ${values.minutes} reached after ${cases.length} cases`);
    break;
  }
  const { kind, command, rng } = draw(index);
  const kase = new Case(index, kind, command, path.join(work, `case-${String(index).padStart(4, '0')}`), engine);
  const began = performance.now();
  // A CPU hog per core and an fsync-heavy writer beside the case, on its file system; ten minutes at most.
  const load = values.load ? startLoad(work, 600_000) : null;
  try {
    if (kind === 'kill') await killCase(kase, commandNamed(command), context, rng);
    else if (kind === 'disk') await diskCase(kase, commandNamed(command), context, rng);
    else await concurrencyCase(kase, command as Pair, context, rng);
  } catch (error) {
    kase.violate('the torture itself runs', `${(error as Error).stack ?? String(error)}`);
  } finally {
    await load?.stop();
    if (kase.place) await engine.dispose(kase.project).catch((error: unknown) => kase.notes.push(`dispose: ${(error as Error).message}`));
  }
  if (values.load) {
    const internal = kase.processes.find((p) => /unexpected error/.test(p.stdout + p.stderr));
    if (internal)
      kase.violate(
        'no unexpected error under load',
        `${internal.label}: ${(internal.stdout + internal.stderr).split('\n').find((line) => /unexpected error/.test(line))}`,
      );
  }
  cases.push(kase);
  const exits = kase.processes
    .filter((p) => !/^(backups|verify|next migrate)/.test(p.label))
    .map((p) => (p.killedAt !== null ? `${shortLabel(p.label)}:KILLED@${p.killedAt}` : `${shortLabel(p.label)}:${p.exitCode ?? p.signal}`))
    .join(' ');
  const known = knownBugsOf(kase);
  const status =
    kase.violations.length === 0
      ? 'ok'
      : `VIOLATION x${kase.violations.length} ${known.length > 0 ? `(known: ${known.join(', ')})` : '(NEW)'}`;
  log(
    `[${index + 1}/${runs}] ${kind.padEnd(11)} ${command.padEnd(27)} ${((performance.now() - began) / 1000).toFixed(1).padStart(5)} s  ${status}  ${exits}${kase.notes.length ? `  (${kase.notes.length} note${kase.notes.length > 1 ? 's' : ''})` : ''}`,
  );
  if (kase.violations.length > 0) {
    for (const violation of kase.violations) log(`    ✗ ${violation.invariant}: ${violation.detail.split('\n')[0]!.slice(0, 400)}`);
  }
  const keep = values.keep || (kase.violations.length > 0 && kept < 25);
  if (keep) kept += kase.violations.length > 0 ? 1 : 0;
  else await rm(kase.dir, { recursive: true, force: true }).catch(() => undefined);
}

function shortLabel(label: string): string {
  return label.replace(/ \(.*\)$/, '').replace('command', 'cmd');
}

// The summary: cases per command and kind, violations with their full story.
const seconds = (performance.now() - startedAt) / 1000;
const commandsSeen = [...new Set(cases.map((c) => c.command))].sort();
const cell = (command: string, kind: Kind) => {
  const of = cases.filter((c) => c.command === command && c.kind === kind);
  if (of.length === 0) return '';
  const bad = of.filter((c) => c.violations.length > 0).length;
  return bad ? `${of.length} (${bad} ✗)` : String(of.length);
};
const rows = commandsSeen.map((command) => [
  command,
  ...KINDS.map((kind) => cell(command, kind)),
  String(cases.filter((c) => c.command === command).length),
]);
const totals = ['total', ...KINDS.map((kind) => String(cases.filter((c) => c.kind === kind).length)), String(cases.length)];
const table = [['command', ...KINDS, 'all'], ...rows, totals];
const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
log('');
await closeTemplates();
log(
  `summary: ${engine.name}, seed ${seed}, ${cases.length} cases in ${(seconds / 60).toFixed(1)} min${values.load ? ', under --load' : ''}, cli ${bin}`,
);
for (const [i, row] of table.entries()) {
  log(`  ${row.map((text, column) => (column === 0 ? text.padEnd(widths[column]!) : text.padStart(widths[column]!))).join('  ')}`);
  if (i === 0 || i === table.length - 2) log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
}
const extra = {
  'writer SIGKILLed': cases.filter((c) => c.params.writerKilled).length,
  'recovery SIGKILLed': cases.filter((c) => c.params.recoveryKillAt !== undefined).length,
  'commands killed': cases.reduce((n, c) => n + c.processes.filter((p) => p.killedAt !== null).length, 0),
};
log(
  `  ${Object.entries(extra)
    .map(([name, n]) => `${name}: ${n}`)
    .join(', ')}`,
);

const violating = cases.filter((c) => c.violations.length > 0);
const unexplained = violating.filter((c) => knownBugsOf(c).length === 0);
const byInvariant = new Map<string, Case[]>();
for (const kase of violating)
  for (const v of kase.violations)
    byInvariant.set(`${v.invariant} [${kase.command}]`, [...(byInvariant.get(`${v.invariant} [${kase.command}]`) ?? []), kase]);
log('');
log(
  violating.length === 0
    ? 'no violations'
    : `${violating.length} of ${cases.length} cases broke an invariant (${unexplained.length} not explained by a known bug):`,
);
for (const [key, of] of [...byInvariant].sort((a, b) => b[1].length - a[1].length)) {
  log(
    `  ${String(of.length).padStart(4)} × ${key}: cases ${[...new Set(of.map((c) => c.index))].slice(0, 12).join(', ')}${of.length > 12 ? ', …' : ''}`,
  );
}
if (violating.length > 0) {
  log('');
  log('known bugs seen (each has an it.fails test in test/torture/findings.test.ts):');
  for (const bug of KNOWN_BUGS) {
    const hit = violating.filter((c) => knownBugsOf(c).includes(bug.id));
    log(
      `  ${String(hit.length).padStart(4)} cases  ${bug.id.padEnd(31)} ${
        hit.length
          ? `cases ${hit
              .slice(0, 10)
              .map((c) => c.index)
              .join(', ')}${hit.length > 10 ? ', …' : ''}`
          : ''
      }`,
    );
  }
  if (unexplained.length > 0)
    log(
      `  ${String(unexplained.length).padStart(4)} cases  NOT EXPLAINED by a known bug: cases ${unexplained.map((c) => c.index).join(', ')}`,
    );
}
const notes = new Map<string, number>();
for (const kase of cases) for (const note of kase.notes) notes.set(normalise(note), (notes.get(normalise(note)) ?? 0) + 1);
if (notes.size > 0) {
  log('');
  log('notes (no invariant broken, worth a look):');
  for (const [note, n] of [...notes].sort((a, b) => b[1] - a[1])) log(`  ${String(n).padStart(4)} × ${note}`);
}

function normalise(note: string): string {
  return note
    .replace(/\/[^\s,()]*\/(\.?[\w.-]+)/g, '…/$1')
    .replace(/\d{8}_\d{6}(_\d+)?/g, '<stamp>')
    .replace(/tmp-\d+/g, 'tmp-<pid>')
    .replace(/pid \d+/g, 'pid <n>')
    .replace(/\d+ bytes/g, '<n> bytes');
}

// Full details: every violating case with every process's output, in a file and (first of each kind) here.
if (violating.length > 0) {
  const detailsFile = path.join(work, 'violations.txt');
  const details = violating.map(describeCase).join('\n\n');
  await writeFile(detailsFile, `${details}\n`);
  log('');
  log(`full details of every violating case: ${detailsFile} (case folders kept: ${kept})`);
  // Here: the first case of each kind of violation that no known bug explains, with its whole story.
  const firsts = new Map<string, Case>();
  for (const [key, of] of byInvariant) {
    const first = of.find((c) => knownBugsOf(c).length === 0);
    if (first) firsts.set(key, first);
  }
  for (const [key, kase] of firsts) {
    log('');
    log(`--- first unexplained case for ${key} ---`);
    log(describeCase(kase));
  }
} else if (!values.keep) {
  await rm(work, { recursive: true, force: true });
}
log('');
log(
  `done: seed ${seed}, ${cases.length} cases, ${violating.length} with violations (${unexplained.length} unexplained), ${(seconds / 60).toFixed(1)} min`,
);
process.exitCode = (values['allow-known'] ? unexplained.length : violating.length) > 0 ? 1 : 0;

function describeCase(kase: Case): string {
  const known = knownBugsOf(kase);
  const replay = `--seed ${seed} --case ${kase.index}${engineArg}${bin === path.join(REPO, 'bin/migrate-guard.js') ? '' : ` --bin ${bin}`}`;
  const lines = [
    `${kase.describe()} seed ${seed} (replay: ${replay})${known.length ? ` known: ${known.join(', ')}` : ' NOT EXPLAINED by a known bug'}`,
    `  folder: ${kase.dir}`,
  ];
  for (const v of kase.violations) lines.push(`  ✗ ${v.invariant}: ${v.detail}`);
  for (const note of kase.notes) lines.push(`  note: ${note}`);
  for (const p of kase.processes) {
    lines.push(
      `  $ migrate-guard ${p.args.join(' ')}   [${p.label}] → ${p.killedAt !== null ? `SIGKILL after ${p.killedAt} ms` : `exit ${p.exitCode ?? p.signal}`} in ${p.ms} ms`,
    );
    if (p.stdout) lines.push(indent(p.stdout, '    out| '));
    if (p.stderr) lines.push(indent(p.stderr, '    err| '));
  }
  return lines.join('\n');
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}
