/**
 * Data-plane proof (`--wan-probe ADDR:PORT`): a mapping made by each protocol really
 * forwards. The tool opens a TCP or UDP listener on our LAN address, maps an external port
 * to it (UPnP AddPortMapping, NAT-PMP, PCP MAP), asks the probe agent on the WAN side
 * (probe-agent.ts) to send a fresh token to the external address and port, and passes when
 * the listener receives that token. The mapping is removed right after. Without
 * --wan-probe these checks are skipped.
 */
import { createServer, type Server } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { PCP } from '../pcp-client.js';
import { ProbeAgentClient } from '../probe-agent.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import type { RunContext } from '../context.js';
import type { Check } from './check.js';
import { natpmpUp, pcpUp } from './pmp.js';

type Proto = 'tcp' | 'udp';
type Via = 'upnp' | 'natpmp' | 'pcp';

/** How long the listener waits for the token once the agent has answered. */
const ARRIVAL_MS = 1500;

/** A LAN listener; `received(ms)` resolves true once the token came in, false after `ms` without it. */
interface Listener { received(ms: number): Promise<boolean>; close(): void }

async function listen(proto: Proto, address: string, port: number, token: string): Promise<Listener> {
  let came = false;
  let hit: () => void = () => undefined;
  const seen = new Promise<void>((r) => { hit = () => { came = true; r(); }; });
  let close: () => void;
  if (proto === 'tcp') {
    const server: Server = createServer((c) => {
      let got = '';
      c.setEncoding('latin1');
      c.on('error', () => c.destroy());
      c.on('data', (d: string) => {
        got += d;
        if (got.includes(token)) {
          c.end('ok\n');
          hit();
        } else if (got.length > 256) c.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, address, () => resolve()); });
    close = () => server.close();
  } else {
    const socket: UdpSocket = createSocket('udp4');
    socket.on('message', (m) => { if (m.toString('latin1') === token) hit(); });
    await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(port, address, () => resolve()); });
    close = () => socket.close();
  }
  return {
    received: async (ms) => {
      if (came) return true;
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([seen.then(() => true), new Promise<boolean>((res) => { timer = setTimeout(() => res(false), ms); })]);
      clearTimeout(timer);
      return r;
    },
    close,
  };
}

/** The run's control connection to the probe agent (opened on first use). */
async function agent(ctx: RunContext): Promise<ProbeAgentClient> {
  const where = ctx.options.wanProbe;
  if (!where) skip('no --wan-probe ADDR:PORT given (a probe agent on the WAN side: openigd conformance-probe --listen ADDR:PORT)');
  ctx.probeAgent ??= ProbeAgentClient.connect(where, ctx.options.timeoutMs);
  try {
    return await ctx.probeAgent;
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}

/** The external address as UPnP tells it (asked here when soap.external-ip did not run). */
async function externalAddress(ctx: RunContext, t: Trace): Promise<string> {
  if (!ctx.externalAddress) {
    const a = (await ctx.soapOk(t, 'wanIpConnection', 'GetExternalIPAddress', [])).NewExternalIPAddress ?? '';
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(a)) skip(`no usable external address (GetExternalIPAddress: ${JSON.stringify(a)})`);
    ctx.externalAddress = a;
  }
  return ctx.externalAddress;
}

/** Maps `internalPort` by `via`; resolves with where the WAN side must send, and how to remove it. */
async function map(ctx: RunContext, t: Trace, via: Via, proto: Proto, internalPort: number): Promise<{ address: string; port: number; remove: () => Promise<unknown> }> {
  if (via === 'upnp') {
    const address = await externalAddress(ctx, t);
    const protocol = proto === 'tcp' ? 'TCP' : 'UDP';
    await ctx.addOk(t, { externalPort: internalPort, protocol, description: 'openigd-conformance data plane' });
    return { address, port: internalPort, remove: () => ctx.deleteMapping(t, internalPort, protocol) };
  }
  if (via === 'natpmp') {
    await natpmpUp(ctx, t);
    const address = await externalAddress(ctx, t);
    const opcode = proto === 'tcp' ? 2 : 1;
    const r = await ctx.natpmpMap(t, opcode, internalPort, internalPort, 120);
    expect(r.result === 0 && r.externalPort, `NAT-PMP mapping request: result ${r.result}`);
    return { address, port: r.externalPort, remove: () => ctx.natpmpMap(t, opcode, internalPort, 0, 0) };
  }
  await pcpUp(ctx, t);
  const nonce = randomBytes(12);
  const protocol = proto === 'tcp' ? 6 : 17;
  const r = await ctx.pcpMap(t, internalPort, 120, { nonce, protocol });
  expect(r.result === PCP.result.SUCCESS && r.map, `PCP MAP: ${r.resultText}`);
  return { address: r.map.externalIp, port: r.map.externalPort, remove: () => ctx.pcpMap(t, internalPort, 0, { nonce, protocol }) };
}

function dataplaneCheck(via: Via, proto: Proto, section: string, how: string): Check {
  return {
    info: {
      id: `dataplane.${via}-${proto}`, group: 'dataplane', severity: 'must', section,
      title: `a ${proto.toUpperCase()} mapping made by ${how} forwards: a probe from the WAN side reaches our listener`,
    },
    async run(ctx, t) {
      const client = await agent(ctx);
      if (!ctx.localAddress) skip('our address is unknown');
      const port = ctx.port();
      const token = randomBytes(8).toString('hex');
      const listener = await listen(proto, ctx.localAddress, port, token).catch((e: Error) => skip(`cannot listen on ${ctx.localAddress}:${port}/${proto}: ${e.message}`));
      try {
        const target = await map(ctx, t, via, proto, port);
        try {
          const answer = await client.probe({ proto, address: target.address, port: target.port, token });
          const arrived = await listener.received(ARRIVAL_MS);
          t.record(`probe agent: ${proto} token ${token} to ${target.address}:${target.port}`, `agent: ${answer.detail}; our listener ${ctx.localAddress}:${port} ${arrived ? 'received it' : 'received nothing'}`);
          expect(arrived, `the probe to ${target.address}:${target.port}/${proto} did not reach ${ctx.localAddress}:${port} (agent: ${answer.detail})`);
          t.note = `${target.address}:${target.port}/${proto} → ${ctx.localAddress}:${port}`;
        } finally {
          await target.remove();
        }
      } finally {
        listener.close();
      }
    },
  };
}

export const dataplaneChecks: Check[] = [
  dataplaneCheck('upnp', 'tcp', 'WANIPConnection:1 §2.4.16', 'UPnP AddPortMapping'),
  dataplaneCheck('upnp', 'udp', 'WANIPConnection:1 §2.4.16', 'UPnP AddPortMapping'),
  dataplaneCheck('natpmp', 'tcp', 'RFC 6886 §3.3', 'NAT-PMP'),
  dataplaneCheck('natpmp', 'udp', 'RFC 6886 §3.3', 'NAT-PMP'),
  dataplaneCheck('pcp', 'tcp', 'RFC 6887 §11', 'PCP MAP'),
  dataplaneCheck('pcp', 'udp', 'RFC 6887 §11', 'PCP MAP'),
];
