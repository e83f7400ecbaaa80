/**
 * What the torture needs to know about one database engine, in one place: how a case's database
 * is made and thrown away, how its content is read (the oracle), where the run's journal and
 * pre-restore copies live, the application writer, and what a killed run may leave on the server.
 * kill.ts, disk.ts, concurrency.ts and invariants.ts know no engine; `--engine` picks one of
 * `TORTURE_ENGINES` (engines.ts) and nothing else asks which it is.
 */
import type { Case, Violation } from './case.ts';
import type { CommandSpec } from './commands.ts';
import type { Pair } from './concurrency.ts';
import type { ProjectPaths, Templates } from './fixture.ts';
import type { Cli, Place } from './proc.ts';
import type { Rng } from './rng.ts';
import type { Pace, Writer } from './writer.ts';

/** The database as the oracle read it: its own health, its content, the writer's rows. */
export interface Inspection {
  /** Broken engine-level invariants (integrity, foreign keys, invalid indexes), without the stage. */
  readonly problems: readonly Violation[];
  /** Schema and rows (the writer's tables aside), hashed. */
  readonly hash: string;
  /** The tags in the writer's `ledger`. */
  readonly tags: ReadonlySet<string>;
  /** Tags in one of the writer's two tables only: a torn transaction. */
  readonly torn: readonly string[];
  /** A few facts that tell a wrong state at a glance. */
  readonly state: string;
}

export interface TortureEngine {
  readonly name: 'sqlite' | 'postgres';
  /** The writing commands run under kill -9, the full-disk commands, the concurrent pairs. */
  readonly commands: readonly string[];
  readonly diskCommands: readonly string[];
  readonly pairs: readonly Pair[];
  /** What this machine lacks: commands (or pairs) left out, each said in a line by `log`. */
  unavailable(log: (line: string) => void): Promise<Set<string>>;
  /** The templates every case copies, built once through the real CLI. */
  buildTemplates(work: string, cli: Cli): Promise<Templates>;
  /** A case's project: its own database copied from the template, its backups, the pending migrations. */
  prepare(templates: Templates, spec: CommandSpec, dir: string): Promise<ProjectPaths>;
  /** Throws the case's database away (a server's database is dropped; a file goes with its folder). */
  dispose(project: ProjectPaths): Promise<void>;
  /** Drops the templates (end of the torture). */
  close(templates: Templates): Promise<void>;
  /** A variant of the database drawn per case (SQLite: WAL or rollback journal); `force` sets it. */
  vary(project: ProjectPaths, rng: Rng, params: Record<string, unknown>, force?: 'wal'): Promise<void>;
  contentHash(project: ProjectPaths): Promise<string>;
  /** The content of a backup file, hashed as `contentHash` would hash the database it holds. */
  snapshotContentHash(file: string, compressed: boolean, tmp: string): Promise<string>;
  inspect(project: ProjectPaths): Promise<Inspection>;
  /** The writer's tags in every pre-restore copy, and how many copies there are. */
  preRestoreTags(project: ProjectPaths): Promise<{ copies: number; tags: Set<string> }>;
  /** Where a pre-restore copy appears (the temporary one first): its folder and the start of its name. */
  preRestoreWatch(project: ProjectPaths): { folder: string; prefix: string };
  journalOf(project: ProjectPaths): string;
  startWriter(project: ProjectPaths, idsFile: string, prefix: string, seed: number, pace: Pace): Promise<Writer>;
  /** What a case's processes must not leave on the server once they all ended (scratch databases, locks, sessions). */
  checkLeftovers(kase: Case, stage: string): Promise<void>;
  /** A refused `migrate`'s LOCK_HELD message names the run holding the lock (OS pid `holder`). */
  namesHolder(message: string, holder: number): boolean;
  /**
   * The full-disk layout. `sizes`: the bytes the free space is drawn around (a snapshot's, its
   * gzip's), the bytes `moveOnDisk` will move there, and the room a run needs once the operator
   * freed the disk (PostgreSQL's preflight asks for twice the database's size); `moveOnDisk`: what lives on the small disk
   * (SQLite: the database file, the backup folder and TMPDIR; a server: the backup folder, where
   * its journal and pre-restore dumps live, and TMPDIR), moved there from `template`.
   */
  sizes(
    template: ProjectPaths,
    templates: Templates,
  ): Promise<{ snapshotBytes: number; gzipBytes: number; movedBytes: number; headroomBytes: number }>;
  moveOnDisk(template: ProjectPaths, diskDir: string): Promise<{ project: ProjectPaths; place: Place }>;
}
