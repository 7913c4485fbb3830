/**
 * Every `openigd` subcommand, in the order `openigd --help` lists them. A new one is a
 * `Command` (see args.ts) in a file of its own, imported and added here.
 */
import type { Command } from './args.js';
import { runCommand } from './run-command.js';
import { labCommand } from './lab-command.js';
import { ADMIN_COMMANDS } from './admin-commands.js';
import { conformanceCommand, conformanceProbeCommand } from './conformance-command.js';
import { replayCommand } from './replay-command.js';

export const COMMANDS: readonly Command[] = [
  runCommand,
  labCommand,
  ...ADMIN_COMMANDS,
  replayCommand,
  conformanceCommand,
  conformanceProbeCommand,
];
