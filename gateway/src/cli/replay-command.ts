/** `openigd replay`: the offline replay (replay/replay-command.ts) as one of the CLI's commands. */
import { replayCli, REPLAY_USAGE, ReplayUsageError } from '../replay/replay-command.js';
import { ConfigError } from '../config/config.js';
import { CliError, HelpRequested, UsageError, type Command } from './args.js';

export const replayCommand: Command = {
  name: 'replay',
  summary: 'run LAN and WAN pcap captures through the NAT offline; write what it would have sent',
  help: `usage: ${REPLAY_USAGE}
  --config FILE     the gateway configuration to replay with
  --lan, --wan      the captures taken on the LAN and WAN ports
  --out-lan, --out-wan  where to write what the gateway would have sent on each port
  --seed N          the seed of the NAT's random choices (default fixed: byte-identical runs)
Prints a JSON summary: frames in, skipped, out, drops by reason.
`,
  run: async (args) => {
    if (args.includes('--help') || args.includes('-h')) throw new HelpRequested('replay');
    try {
      await replayCli(args);
    } catch (e) {
      if (e instanceof ReplayUsageError) throw new UsageError(e.message.split('\n')[0]!.replace(/^replay /, ''), 'replay');
      if (e instanceof ConfigError) throw new CliError(`bad config: ${e.message}`);
      throw e;
    }
  },
};
