/**
 * `openigd conformance`: checks any UPnP IGD, NAT-PMP and PCP server against the
 * specifications (the @openigd/conformance package). Loaded only when used; it prints
 * its own report and says its own exit status (0, 1 a must check failed, 2 usage).
 */
import { HelpRequested, type Command } from './args.js';

const load = () => import('@openigd/conformance');

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: 'check an IGD (UPnP, NAT-PMP, PCP), ours or any, against the specifications',
  help: async () => `${(await load()).CONFORMANCE_USAGE}\n`,
  run: async (args) => {
    if (args.includes('--help') || args.includes('-h')) throw new HelpRequested('conformance');
    return { exitCode: await (await load()).runConformance(args) };
  },
};

/** `openigd conformance-probe`: the WAN-side probe agent of `openigd conformance --wan-probe`. */
export const conformanceProbeCommand: Command = {
  name: 'conformance-probe',
  summary: 'the WAN-side probe agent of conformance --wan-probe (data-plane proof)',
  help: async () => `${(await load()).PROBE_USAGE}\n`,
  run: async (args) => {
    if (args.includes('--help') || args.includes('-h')) throw new HelpRequested('conformance-probe');
    return { exitCode: await (await load()).runProbeAgentCli(args) };
  },
};
