import { Option, type Command } from 'commander';
import type { AnyCommand, ArgsDef, GlobalFlags, Invocation, ParsedArgs } from './command.ts';

const kebab = (key: string) => key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

/**
 * Adds a declaration to the program as a subcommand. Commander only parses and validates; what it
 * parsed goes to `onInvoke`, so that running, printing and exit codes stay out of commander's hands.
 */
export function addCommand(program: Command, declaration: AnyCommand, onInvoke: (invocation: Invocation) => void): void {
  // program.command(), not new Command(): the subcommand inherits exitOverride and the output streams.
  const command = program.command(declaration.name).description(declaration.description);
  const positionals: string[] = [];
  for (const [key, arg] of Object.entries(declaration.args)) {
    switch (arg.type) {
      case 'positional':
        command.argument(arg.required ? `<${key}>` : `[${key}]`, arg.description);
        positionals.push(key);
        break;
      case 'string':
        command.option(`--${kebab(key)} <${arg.valueHint}>`, arg.description);
        break;
      case 'enum':
        command.addOption(new Option(`--${kebab(key)} <${arg.valueHint}>`, arg.description).choices([...arg.options]).default(arg.default));
        break;
      case 'boolean':
        command.option(`--${kebab(key)}`, arg.description);
        if (arg.negativeDescription !== undefined) command.option(`--no-${kebab(key)}`, arg.negativeDescription);
        break;
    }
  }
  // Commander calls back with the positionals in declaration order, then the options and itself.
  command.action((...params: unknown[]) => {
    const parsed = params.at(-1) as Command;
    const values = Object.fromEntries(positionals.map((key, index) => [key, params[index]]));
    onInvoke({
      command: declaration,
      // The declaration set up exactly these flags and positionals, so this is their parsed shape.
      args: { ...parsed.opts(), ...values } as ParsedArgs<ArgsDef>,
      flags: parsed.optsWithGlobals<GlobalFlags>(),
    });
  });
}
