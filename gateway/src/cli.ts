#!/usr/bin/env node
/**
 * `openigd` — the command line: `openigd COMMAND [ARGS]`, the commands in cli/commands.ts.
 * Output goes to stdout; a failure is one line on stderr and exit 1, a usage error
 * exit 2; `--help` (on its own or after any command) prints help and exits 0.
 */
import { CliError, HelpRequested, UsageError, helpOf, type Command } from './cli/args.js';
import { COMMANDS } from './cli/commands.js';

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: openigd COMMAND [ARGS] [--help]

${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

openigd COMMAND --help tells more about each.
`;
}

const find = (name: string): Command | undefined => COMMANDS.find((c) => c.name === name);

/** Runs one command line; resolves with the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const about = name === 'help' && args[0] !== undefined ? find(args[0]) : undefined;
    if (name === undefined) {
      process.stderr.write(topHelp());
      return 2;
    }
    process.stdout.write(about ? await helpOf(about) : topHelp());
    return 0;
  }
  const command = find(name);
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`);
    const out = await command.run(args);
    if (typeof out === 'object') return out.exitCode;
    if (out) process.stdout.write(out);
    return 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(await helpOf(command!));
      return 0;
    }
    if (e instanceof UsageError) {
      const where = e.command ? ` ${e.command}` : '';
      process.stderr.write(`openigd${where}: ${e.message} (openigd ${command ? `${command.name} ` : ''}--help)\n`);
      return 2;
    }
    // Ours are one line; an unexpected error keeps all it says (lab up's carries the daemon's last log lines).
    const err = e as Error & { code?: string };
    process.stderr.write(`openigd: ${e instanceof CliError || !err.code ? err.message : `${err.message} (${err.code})`}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
