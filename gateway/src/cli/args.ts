/**
 * What every `openigd` subcommand shares: the `Command` shape the registry holds, the
 * two kinds of failure (a usage error exits 2, anything else 1), and argument parsing
 * with Node's own `util.parseArgs` turned into those errors and checked numbers.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** One subcommand: `openigd NAME ...`. */
export interface Command {
  readonly name: string;
  /** One line for `openigd --help`. */
  readonly summary: string;
  /** The whole of `openigd NAME --help` (a function: made when asked, for a command loaded only when used). */
  readonly help: string | (() => Promise<string>);
  /**
   * Runs with the arguments after NAME; resolves with what to print on stdout, if anything,
   * or with the exit status of a command that prints its own output.
   */
  run(args: readonly string[]): Promise<string | void | { readonly exitCode: number }>;
}

/** A command's help text. */
export const helpOf = async (c: Command): Promise<string> => (typeof c.help === 'string' ? c.help : c.help());

/** The command line is wrong: one line on stderr, exit 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command could not do its job (no socket, the API refused, ...): one line on stderr, exit 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Asked for help: the caller prints the command's help and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly command: string) {
    super('help');
    this.name = 'HelpRequested';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values `options` give: a boolean or a string per option, absent when not given. */
export type OptionValues<O extends Options> = { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : string };

export interface Parsed<O extends Options> {
  readonly values: OptionValues<O>;
  readonly positionals: readonly string[];
}

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

/**
 * `util.parseArgs`, strict, with positionals, `-h/--help` added: throws `HelpRequested`
 * for `--help` and `UsageError` (naming `command`) for an unknown option or a missing value.
 */
export function parse<O extends Options>(command: string, args: readonly string[], options: O): Parsed<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { ...options, ...HELP_OPTION }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(firstLine((e as Error).message), command);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(command);
  return { values: parsed.values as OptionValues<O>, positionals: parsed.positionals };
}

/** Node's parse errors carry a second line of advice meant for scripts' authors; keep the first. */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
}

/** An integer in [min, max] from an option or operand, else a usage error naming it. */
export function intArg(command: string, name: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${name} must be an integer ${min}-${max}, not "${text}"`, command);
  return n;
}

/** One of `choices` (case-insensitive), returned as listed, else a usage error. */
export function choiceArg<T extends string>(command: string, name: string, text: string, choices: readonly T[]): T {
  const found = choices.find((c) => c.toLowerCase() === text.toLowerCase());
  if (found === undefined) throw new UsageError(`${name} must be one of ${choices.join(', ')}, not "${text}"`, command);
  return found;
}

/** Exactly `names.length` operands, else a usage error listing what is expected. */
export function operands(command: string, positionals: readonly string[], names: readonly string[]): string[] {
  if (positionals.length !== names.length) {
    const what = names.length ? `expects ${names.join(' ')}` : 'takes no operands';
    throw new UsageError(`${what}${positionals.length ? `, got "${positionals.join(' ')}"` : ''}`, command);
  }
  return [...positionals];
}
