/**
 * `openigd conformance`: checks any UPnP IGD, NAT-PMP and PCP server against the
 * specifications (the @openigd/conformance package), and `openigd conformance-probe`, its
 * WAN-side probe agent. The package is loaded only when used; each prints its own report
 * and says its own exit status (0, 1 a must check failed, 2 usage).
 */
import { HelpRequested, type Command } from './args.js';

type Conformance = typeof import('@openigd/conformance');
const load = (): Promise<Conformance> => import('@openigd/conformance');

/** A command run by the conformance package: `usage` and `run` pick its usage text and entry point. */
function packageCommand(name: string, summary: string, usage: (m: Conformance) => string, run: (m: Conformance, args: readonly string[]) => Promise<number>): Command {
  return {
    name,
    summary,
    help: async () => `${usage(await load())}\n`,
    run: async (args) => {
      if (args.includes('--help') || args.includes('-h')) throw new HelpRequested(name);
      return { exitCode: await run(await load(), args) };
    },
  };
}

export const conformanceCommand = packageCommand('conformance',
  'check an IGD (UPnP, NAT-PMP, PCP), ours or any, against the specifications',
  (m) => m.CONFORMANCE_USAGE, (m, args) => m.runConformance(args));

export const conformanceProbeCommand = packageCommand('conformance-probe',
  'the WAN-side probe agent of conformance --wan-probe (data-plane proof)',
  (m) => m.PROBE_USAGE, (m, args) => m.runProbeAgentCli(args));
