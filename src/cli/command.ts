import type { LocationFlags, Locations } from '../config/locations.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import type { ExitCode } from '../errors.ts';
import type { Interrupt } from './interrupt.ts';
import type { CliEnvironment } from './environment.ts';
import type { Output } from './output.ts';

export type { CliEnvironment } from './environment.ts';

export interface GlobalFlags extends LocationFlags {
  readonly json?: boolean;
  readonly yes?: boolean;
  /** Skip the StrictModes-like check of the backup folder and state files (see fs/trust.ts). */
  readonly allowInsecureDirs?: boolean;
}

/**
 * A command's arguments, declared once: the declaration is both the commander setup (flags, help)
 * and the type of what `run` receives. An option's flag is its key in kebab-case.
 */
export type ArgDef =
  | { readonly type: 'positional'; readonly description: string; readonly required?: boolean }
  /** `--key <valueHint>` */
  | { readonly type: 'string'; readonly description: string; readonly valueHint: string }
  | {
      readonly type: 'enum';
      readonly description: string;
      readonly valueHint: string;
      readonly options: readonly string[];
      readonly default: string;
    }
  /** `--key`, and `--no-key` as well when there is a negative description. */
  | { readonly type: 'boolean'; readonly description: string; readonly negativeDescription?: string };

export type ArgsDef = Readonly<Record<string, ArgDef>>;

export type ParsedArgs<A extends ArgsDef> = {
  readonly [K in keyof A]: A[K] extends { type: 'positional'; required: true }
    ? string
    : A[K] extends { type: 'enum'; options: readonly (infer T)[] }
      ? T
      : A[K] extends { type: 'boolean' }
        ? boolean | undefined
        : string | undefined;
};

/** What every command hands back: the JSON report, whose exitCode is the process's. */
export interface Report {
  readonly command: string;
  readonly ok: boolean;
  readonly exitCode: ExitCode;
}

export interface CommandContext {
  readonly cli: CliEnvironment;
  readonly flags: GlobalFlags;
  readonly locations: Locations;
  readonly config: ResolvedConfig;
  readonly output: Output;
  /** Aborted on SIGINT/SIGTERM for the commands that declare an `interrupt`; otherwise never. */
  readonly signal: AbortSignal;
}

/** What a refused run reports, for the commands whose report keys are promised whatever happens. */
export interface Refusal {
  readonly exitCode: ExitCode;
  readonly message: string;
  readonly backup: string | null;
  /** What a guarded run had pending when it refused, when it knew (else null). */
  readonly pending: readonly string[] | null;
}

// Methods rather than function properties: a list of commands with different arguments and reports
// can then be held as CommandDeclaration<ArgsDef, Report>, while each declaration stays precisely typed.
export interface CommandDeclaration<A extends ArgsDef, R extends Report> {
  readonly name: string;
  readonly description: string;
  readonly args: A;
  /**
   * Loads its implementation with a dynamic import, so that only the command that runs pays for
   * loading it (a deploy's `migrate` with nothing pending must not load knex and umzug).
   */
  run(args: ParsedArgs<A>, context: CommandContext): Promise<R>;
  /** The human summary on stderr; null when the event lines already said it all. */
  format(report: R): string | null;
  /** How SIGINT/SIGTERM stop this command; without one, a signal ends the process as usual. */
  interrupt?(args: ParsedArgs<A>): Interrupt | null;
  /** Report keys a refusal (a thrown GuardError or an internal error) still carries. */
  refusalKeys?(refusal: Refusal): object;
}

export type AnyCommand = CommandDeclaration<ArgsDef, Report>;

/** A command as commander parsed it, not yet run. */
export interface Invocation {
  readonly command: AnyCommand;
  readonly args: ParsedArgs<ArgsDef>;
  readonly flags: GlobalFlags;
}

/** Identity at runtime; infers the literal argument declaration so that `run` gets exact types. */
export function defineCommand<const A extends ArgsDef, R extends Report>(declaration: CommandDeclaration<A, R>): CommandDeclaration<A, R> {
  return declaration;
}
