/**
 * `openigd conformance` (also `openigd-conformance`): parses the command line, finds the
 * device (a given description URL, or SSDP discovery on a LAN interface), runs the checks,
 * prints the report and writes the JUnit file. Ctrl-C stops the run after the request
 * under way and still removes every mapping the run made; a second Ctrl-C exits at once.
 * Resolves with the exit status: 0 when no must check failed, 1 when one did, 2 for a
 * usage error or a device that cannot be found.
 */
import { writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import type { Socket } from 'node:net';
import { runChecks } from './runner.js';
import { exitStatus, jsonReport, junitReport, textReport } from './report.js';
import { mSearch, SSDP_MULTICAST } from './ssdp-client.js';
import { ALL_CHECKS } from './checks/all.js';
import { agentAddress, startProbeAgent } from './probe-agent.js';
import type { ConformanceOptions } from './context.js';

export const CONFORMANCE_USAGE = `usage: openigd conformance (--url http://DEVICE/rootDesc.xml | --discover [--interface IF]) [options]
  --ports A-B        external ports the run may map (default 47100-47199); it touches no others
  --ssdp HOST:PORT   send M-SEARCH to one device instead of the multicast group
  --pmp HOST:PORT    NAT-PMP/PCP server (default: the device's address, port 5351)
  --lease S          the short lease that must expire (default 2)
  --timeout MS       per request (default 3000)
  --only ID,...      only these checks (ids or id prefixes such as soap. or pcp)
  --wan-probe HOST:PORT  a probe agent on the WAN side (openigd conformance-probe --listen HOST:PORT):
                     the dataplane.* checks prove that mappings made by UPnP, NAT-PMP and PCP forward
  --notify-wait S    listen S seconds for the device's NOTIFY ssdp:alive: it announces at least that
                     often, so silence fails (without it: 5 s, and silence only skips unless that
                     covers max-age / 2); the listening goes on alongside the other checks
  --json             print the report as JSON
  --junit FILE       also write a JUnit XML report
  --verbose          show the exchanges of every check, not only of failures
  --list             list the checks and exit
Exit status: 0 no must check failed, 1 a must check failed, 2 usage error or no device.`;

export const PROBE_USAGE = `usage: openigd conformance-probe --listen HOST:PORT [--max-seconds S]
  The WAN-side agent of openigd conformance --wan-probe: run it on a machine on the router's WAN
  side; the tool connects to HOST:PORT through the router and asks it to send TCP and UDP probes
  to the external ports it mapped. It stops after --max-seconds (default: on SIGINT/SIGTERM).`;

function hostPort(text: string, what: string): { address: string; port: number } {
  const m = /^([\d.]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new Error(`${what} must be IPv4:PORT, not ${JSON.stringify(text)}`);
  return { address: m[1]!, port: Number(m[2]) };
}

function interfaceAddress(name: string): string {
  const a = networkInterfaces()[name]?.find((x) => x.family === 'IPv4' && !x.internal);
  if (!a) throw new Error(`interface ${name} has no IPv4 address`);
  return a.address;
}

/** Finds an IGD by M-SEARCH (IGD:2 first, then IGD:1) and returns its LOCATION. */
async function discover(iface: string | undefined, timeoutMs: number): Promise<string> {
  const from = iface === undefined ? undefined : interfaceAddress(iface);
  for (const v of [2, 1]) {
    const { answers } = await mSearch({
      target: SSDP_MULTICAST, st: `urn:schemas-upnp-org:device:InternetGatewayDevice:${v}`, mx: 1,
      waitMs: Math.min(timeoutMs, 1500), ...(from ? { interfaceAddress: from } : {}),
    });
    const location = answers.find((a) => a.headers.location)?.headers.location;
    if (location) return location;
  }
  throw new Error(`no InternetGatewayDevice answered an M-SEARCH${iface ? ` on ${iface}` : ''}`);
}

export function parseConformanceArgs(argv: readonly string[]): { options?: Omit<ConformanceOptions, 'url'> & { url?: string }; discover: boolean; iface?: string; json: boolean; junit?: string; verbose: boolean; list: boolean } {
  const { values } = parseArgs({
    args: [...argv], allowPositionals: false, strict: true,
    options: {
      url: { type: 'string' }, discover: { type: 'boolean', default: false }, interface: { type: 'string' },
      ports: { type: 'string', default: '47100-47199' }, ssdp: { type: 'string' }, pmp: { type: 'string' },
      lease: { type: 'string', default: '2' }, timeout: { type: 'string', default: '3000' }, only: { type: 'string' },
      json: { type: 'boolean', default: false }, junit: { type: 'string' }, verbose: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false }, 'wan-probe': { type: 'string' }, 'notify-wait': { type: 'string' },
    },
  });
  const ports = /^(\d{1,5})-(\d{1,5})$/.exec(values.ports);
  const first = Number(ports?.[1]);
  const last = Number(ports?.[2]);
  if (!ports || first < 1 || last > 65535 || first > last) throw new Error(`--ports must be A-B within 1-65535, not ${values.ports}`);
  if (last - first < 19) throw new Error('--ports needs at least 20 ports');
  const lease = Number(values.lease);
  const timeout = Number(values.timeout);
  if (!Number.isInteger(lease) || lease < 1 || lease > 60) throw new Error('--lease must be 1-60 seconds');
  if (!Number.isInteger(timeout) || timeout < 100 || timeout > 60_000) throw new Error('--timeout must be 100-60000 ms');
  const notifyWait = values['notify-wait'] === undefined ? undefined : Number(values['notify-wait']);
  if (notifyWait !== undefined && !(Number.isInteger(notifyWait) && notifyWait >= 1 && notifyWait <= 1800)) throw new Error('--notify-wait must be 1-1800 seconds');
  if (!values.list && (values.url === undefined) === !values.discover) throw new Error('give one of --url or --discover');
  return {
    discover: values.discover, iface: values.interface, json: values.json, junit: values.junit, verbose: values.verbose, list: values.list,
    options: {
      ...(values.url ? { url: values.url } : {}),
      ports: { first, last },
      ssdpTarget: values.ssdp ? hostPort(values.ssdp, '--ssdp') : SSDP_MULTICAST,
      ...(values.interface ? { ssdpInterface: interfaceAddress(values.interface) } : {}),
      ...(values.pmp ? { pmpTarget: hostPort(values.pmp, '--pmp') } : {}),
      shortLeaseSeconds: lease, timeoutMs: timeout,
      ...(values['wan-probe'] ? { wanProbe: hostPort(values['wan-probe'], '--wan-probe') } : {}),
      ...(notifyWait !== undefined ? { notifyWaitSeconds: notifyWait } : {}),
      ...(values.only ? { only: values.only.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    },
  };
}

/** Runs the tool with the arguments after `conformance`; resolves with the exit status. */
export async function runConformance(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseConformanceArgs>;
  try {
    parsed = parseConformanceArgs(argv);
  } catch (e) {
    process.stderr.write(`openigd conformance: ${e instanceof Error ? e.message : String(e)}\n${CONFORMANCE_USAGE}\n`);
    return 2;
  }
  if (parsed.list) {
    for (const c of ALL_CHECKS) process.stdout.write(`${c.info.id.padEnd(28)} ${c.info.severity.padEnd(7)} ${c.info.section}: ${c.info.title}\n`);
    return 0;
  }
  const base = parsed.options!;
  let url = base.url;
  if (parsed.discover) {
    try {
      url = await discover(parsed.iface, base.timeoutMs);
    } catch (e) {
      process.stderr.write(`openigd conformance: ${e instanceof Error ? e.message : String(e)}\n`);
      return 2;
    }
  }
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('openigd conformance: interrupted; removing the mappings this run made (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const report = await runChecks({ ...base, url: url! }, controller.signal);
    process.stdout.write(parsed.json ? jsonReport(report) : textReport(report, parsed.verbose));
    if (parsed.junit) await writeFile(parsed.junit, junitReport(report));
    return report.interrupted ? 130 : exitStatus(report);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** `openigd conformance-probe ARGS`: runs the WAN-side probe agent until signalled or --max-seconds. */
export async function runProbeAgentCli(argv: readonly string[]): Promise<number> {
  let listen: { address: string; port: number };
  let maxSeconds: number | undefined;
  try {
    const { values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { listen: { type: 'string' }, 'max-seconds': { type: 'string' } } });
    if (!values.listen) throw new Error('--listen HOST:PORT is needed');
    listen = hostPort(values.listen, '--listen');
    if (values['max-seconds'] !== undefined) {
      maxSeconds = Number(values['max-seconds']);
      if (!Number.isInteger(maxSeconds) || maxSeconds < 1) throw new Error('--max-seconds must be a positive integer');
    }
  } catch (e) {
    process.stderr.write(`openigd conformance-probe: ${e instanceof Error ? e.message : String(e)}\n${PROBE_USAGE}\n`);
    return 2;
  }
  const server = await startProbeAgent(listen);
  const open = new Set<Socket>();
  server.on('connection', (s: Socket) => { open.add(s); s.on('close', () => open.delete(s)); });
  const at = agentAddress(server);
  process.stdout.write(`openigd conformance-probe: listening on ${at.address}:${at.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (maxSeconds !== undefined) setTimeout(stop, maxSeconds * 1000).unref();
  });
  server.close();
  for (const s of open) s.destroy();
  return 0;
}
