/** `openigd run`: the gateway in the foreground, logging JSON lines (or pretty ones) on stdout. */
import { runDaemon } from '../daemon.js';
import { LOG_FORMATS } from '../log.js';
import { UsageError, choiceArg, operands, parse, type Command } from './args.js';
import { readConfig } from './config-file.js';
import { checkCapabilities } from './capabilities.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'run the gateway in the foreground',
  help: `usage: openigd run --config FILE [--log json|pretty]
  --config FILE   the gateway's YAML configuration
  --log FORMAT    json (default): one JSON object per line, for jq and log shippers;
                  pretty: one readable line per entry, for a person at a terminal
The log level is the config's log.level. Stops cleanly on SIGTERM or SIGINT (exit
status 0), or when a TAP is removed under it (exit status 1).
`,
  run: async (args) => {
    const { values, positionals } = parse('run', args, { config: { type: 'string' }, log: { type: 'string' } });
    operands('run', positionals, []);
    if (values.config === undefined) throw new UsageError('needs --config FILE', 'run');
    const format = choiceArg('run', '--log', values.log ?? 'json', LOG_FORMATS);
    const config = await readConfig(values.config);
    checkCapabilities();
    return { exitCode: await runDaemon(config, format) };
  },
};
