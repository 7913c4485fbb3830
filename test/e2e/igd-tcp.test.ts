/**
 * The IGD's HTTP port served by the gateway's own userspace TCP endpoint (`igd.tcp:
 * userspace`, the default; gateway/src/service-tcp), end to end in the lab: the LAN host's
 * Linux TCP is the client, upnpc and curl the applications.
 *  1. upnpc -l / -a and curl work; the segments go to the endpoint (`stats.toService`,
 *     `igdTcp.accepted`), none to the gateway namespace's kernel TCP behind the local port;
 *     on the wire (tcpdump in h1) the SYN-ACK offers MSS 1460 and no window scaling, and
 *     each of upnpc's connections ends with a FIN from both sides, no RST.
 *  2. Under 10 % loss and reordering both ways (`impair`: on h1's eth0 and the bridge's
 *     port toward h1): 20 upnpc adds, upnpc -l lists them, and a GetListOfPortMappings of
 *     1,000 entries is the same, byte for byte, as without loss; the endpoint retransmitted,
 *     and every connection ends once the loss is gone.
 *  3. `igd.tcp: kernel`: the old path (the local port, the kernel's TCP) still serves.
 *  4. A SYN flood of 600 never-completed handshakes from h1: upnpc from h2 works at once,
 *     the oldest half-open connections made room, the daemon did not crash.
 *
 * upnpc needs `-i`: the external address is in a documentation range, which it calls
 * "not connected".
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { soapActionHeader, soapEnvelope } from '@openigd/conformance';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';
import { status, type IgdTcpStatus } from '../lib/admin.js';
import { PORT_PROBE, parseUpnpcList } from '../lib/lab-probe.js';

const DIR = '/run/openigd-lab';
const BASE = 'http://192.168.1.1:5000';
const ROOT_DESC = `${BASE}/rootDesc.xml`;
const FAULTS_TOOL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'e2e', 'tools', 'faults-tool.py');
const V1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const V2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

/** What the gateway's /status says about the IGD's TCP: the router's counters and the endpoint's. */
async function tcpCounters(lab: LabRecord): Promise<{ toService: number; toLocal: number; igdTcp: IgdTcpStatus | null; quick: number }> {
  const s = await status(lab.adminSocket);
  return { toService: s.stats.toService!, toLocal: s.stats.toLocal!, igdTcp: s.igdTcp, quick: s.igd!.httpQuickAnswered };
}

/** The gateway namespace's kernel TCP counters (RFC 4022 tcpPassiveOpens, tcpInSegs): the kernel path's connections. */
async function kernelTcp(lab: LabRecord): Promise<{ passiveOpens: number; inSegs: number }> {
  const snmp = await must(lab.namespaces.gw, 'cat', ['/proc/net/snmp']);
  const [names, values] = snmp.split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.trim().split(/\s+/));
  const at = (name: string) => Number(values![names!.indexOf(name)]);
  return { passiveOpens: at('PassiveOpens'), inSegs: at('InSegs') };
}

/** upnpc in a LAN host; `-u` skips SSDP discovery (multicast, which netem's loss would make a gamble) for the description URL. */
function upnpc(lab: LabRecord, host: 'h1' | 'h2', args: readonly string[], direct = false): Promise<string> {
  return must(lab.namespaces[host], 'upnpc', ['-i', ...(direct ? ['-u', ROOT_DESC] : []), ...args], 60_000);
}

/**
 * upnpc under loss: miniupnpc gives each socket 3 s (SO_RCVTIMEO and SO_SNDTIMEO, which
 * also bound connect()), so a handshake whose SYN is lost twice (retransmitted at 1 s and
 * 3 s) fails on the client's side whatever the server does: on a SOAP call as code -3,
 * "Miniupnpc HTTP error"; on the description's GET, before any call, as "No valid UPNP
 * Internet Gateway Device found". Such a failure is tried again, at most `MAX_LOSSY_TRIES`
 * times per call, and counted; any other failure fails at once.
 */
const MAX_LOSSY_TRIES = 3;
async function upnpcUnderLoss(lab: LabRecord, args: readonly string[], retried: { count: number }): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await upnpc(lab, 'h1', args, true);
    } catch (e) {
      const clientTimeout = /Miniupnpc HTTP error|Socket error|failed with code -3|No valid UPNP Internet Gateway Device found/.test(String(e));
      if (!clientTimeout || attempt >= MAX_LOSSY_TRIES) throw e;
      retried.count++;
    }
  }
}

/** curl from h1 with a SOAP request to the WANIPConnection control URL; resolves with the body (any non-2xx fails). */
function soap(lab: LabRecord, serviceType: string, action: string, args: ReadonlyArray<readonly [string, string]>): Promise<string> {
  const call = { serviceType, action, args };
  return must(lab.namespaces.h1, 'curl', ['-s', '-S', '--fail-with-body', '-m', '30', '-X', 'POST', '-H', `SOAPAction: ${soapActionHeader(call)}`,
    '-H', 'Content-Type: text/xml; charset="utf-8"', '--data-binary', soapEnvelope(call), `${BASE}/ctl/IPConn`], 90_000);
}

/**
 * Waits until every connection of the endpoint has ended (the loss is gone by then: a lost
 * last ACK or FIN is sent again within a few RTOs) and resolves with its counters.
 */
async function allClosed(lab: LabRecord): Promise<IgdTcpStatus> {
  let last: IgdTcpStatus | null = null;
  try {
    return await until('the endpoint\'s connections to end', async () => {
      last = (await tcpCounters(lab)).igdTcp!;
      return last.open === 0 && last;
    }, 15_000, 100);
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  }
}

/** One TCP segment of a capture: its connection (tshark's stream index), sender, flags and SYN options. */
interface Segment { stream: number; src: string; flags: number; mss: number | null; wscale: boolean }

const FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, ack: 0x10 } as const;

/**
 * tcpdump in `ns` on eth0 for TCP port 5000 while `during` runs: at most 400 segments and
 * 60 s. Resolves with the segments, parsed by tshark. tcpdump, stopped, leaves out what it
 * has not read yet: it runs until a marker sent after `during` (a UDP datagram to the
 * gateway's discard port) is in its file, so everything before it is too.
 */
async function captureDuring(ns: string, cleanup: Cleanup, file: string, during: () => Promise<void>): Promise<Segment[]> {
  const dump = background(ns, 'timeout', ['60', 'tcpdump', '-i', 'eth0', '-nn', '-U', '--immediate-mode', '-c', '400', '-w', file,
    'tcp port 5000 or udp dst port 9']);
  cleanup.add(() => dump.stop());
  await until('tcpdump to listen', async () => dump.output().includes('listening on'), 10_000, 20);
  await during();
  const read = async () => (await must(null, 'tshark', ['-r', file, '-T', 'fields', '-E', 'separator=;', '-e', 'tcp.stream', '-e', 'ip.src',
    '-e', 'tcp.flags', '-e', 'tcp.options.mss_val', '-e', 'tcp.options.wscale.shift', '-e', 'udp.dstport'])).trim().split('\n');
  const lines = await until('the marker in the capture', async () => {
    await must(ns, 'bash', ['-c', 'echo end > /dev/udp/192.168.1.1/9']);
    const seen = await read();
    return seen.some((l) => l.endsWith(';9')) && seen;
  }, 10_000, 100);
  await dump.stop();
  return lines.filter((l) => !l.endsWith(';9') && l !== '').map((l) => {
    const [stream, src, flags, mss, wscale] = l.split(';');
    return { stream: Number(stream), src: src!, flags: Number(flags), mss: mss ? Number(mss) : null, wscale: (wscale ?? '') !== '' };
  });
}

/**
 * 10 % loss on what `dev` (in `ns`) receives, and reordering of what it sends, by nftables
 * and HTB: the kernels here may lack netem (sch_netem), so a netdev ingress chain drops one
 * frame in ten at random (ingress: on a 6.18 kernel, a drop in an egress chain was counted
 * and the frame still went), and an egress chain puts one frame in four at random into an HTB
 * class of 2 Mbit/s with a one-frame bucket, where it waits behind the frames sent before
 * it in that class while later ones pass in the fast class. Applied to both ends of the veth
 * between h1 and the bridge, each direction gets both.
 */
async function impair(ns: string, dev: string, file: string): Promise<void> {
  await unimpair(ns, dev);
  await writeFile(file, [
    'table netdev oi_impair {',
    '  chain loss {', `    type filter hook ingress device "${dev}" priority 0;`, '    numgen random mod 10 0 drop', '  }',
    '  chain reorder {', `    type filter hook egress device "${dev}" priority 0;`, '    numgen random mod 4 0 meta priority set 1:20', '  }',
    '}', '',
  ].join('\n'));
  await must(ns, 'tc', ['qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']);
  await must(ns, 'tc', ['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit', 'quantum', '60000']);
  await must(ns, 'tc', ['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '2mbit', 'burst', '1600', 'cburst', '1600', 'quantum', '1600']);
  await must(ns, 'nft', ['-f', file]);
}

/** Undoes `impair`; what is not there is no error. */
async function unimpair(ns: string, dev: string): Promise<void> {
  await sh(ns, 'nft', ['delete', 'table', 'netdev', 'oi_impair']);
  await sh(ns, 'tc', ['qdisc', 'del', 'dev', dev, 'root']);
}

/** A lab for the tests of one describe block: up before them, down after them with whatever else `cleanup` holds. */
function labForSuite(cleanup: Cleanup, tag: string, extraConfig?: string): { lab: LabRecord | null } {
  const suite: { lab: LabRecord | null } = { lab: null };
  after(() => cleanup.run());
  before(async () => {
    const prefix = uniquePrefix(tag);
    cleanup.add(() => labDown(prefix, DIR));
    suite.lab = await labUp({ prefix, dir: DIR, ...(extraConfig === undefined ? {} : { extraConfig }) });
  });
  return suite;
}

describe('the IGD over the userspace TCP endpoint: upnpc, curl, the wire, and a SYN flood', { skip }, () => {
  const cleanup = new Cleanup();
  const suite = labForSuite(cleanup, 'tc');
  const lab = (): LabRecord => suite.lab!;

  test('curl and upnpc -l / -a reach the endpoint, not the kernel behind the local port', async () => {
    const h1 = lab().hostAddresses.h1!;
    let before = await tcpCounters(lab());
    let kernel = await kernelTcp(lab());
    const description = await must(lab().namespaces.h1, 'curl', ['-s', '-S', '--fail', '-m', '10', ROOT_DESC]);
    assert.match(description, /<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1<\/deviceType>/);
    let now = await tcpCounters(lab());
    assert.equal(now.igdTcp!.accepted, before.igdTcp!.accepted + 1, 'one connection for curl');
    // SYN, ACK, request, its FIN and the last ACK at least (some may share a segment).
    assert.ok(now.toService >= before.toService + 3, `toService ${before.toService} -> ${now.toService}`);
    // Unicast TCP only: nothing at all went to the local port.
    assert.equal(now.toLocal, before.toLocal, 'curl: no frame to the local port');
    assert.deepEqual(await kernelTcp(lab()), kernel, 'the gateway namespace\'s kernel saw no TCP');
    assert.equal(now.quick, before.quick, 'curl\'s GET went through node:http');

    before = now;
    kernel = await kernelTcp(lab());
    assert.match(await upnpc(lab(), 'h1', ['-a', h1, '8080', '18080', 'TCP']), /external 203\.0\.113\.2:18080 TCP is redirected to internal [\d.]+:8080/);
    const listed = parseUpnpcList(await upnpc(lab(), 'h1', ['-l']));
    assert.deepEqual(listed.map((m) => `${m.protocol} ${m.externalPort}->${m.internalClient}:${m.internalPort}`), [`TCP 18080->${h1}:8080`]);
    now = await tcpCounters(lab());
    // upnpc's SSDP search (multicast UDP) still goes to the local port; its HTTP does not.
    const accepted = now.igdTcp!.accepted - before.igdTcp!.accepted;
    assert.ok(accepted >= 4, `upnpc's connections accepted by the endpoint: ${accepted}`);
    // upnpc's SOAP calls (POST, Connection: close) took the quick path; its description GETs did not.
    const quick = now.quick - before.quick;
    assert.ok(quick >= 2 && quick < accepted, `upnpc's requests on the quick path: ${quick} of ${accepted} connections`);
    assert.ok(now.toService >= before.toService + 4 * accepted, `toService ${before.toService} -> ${now.toService} for ${accepted} connections`);
    assert.deepEqual(await kernelTcp(lab()), kernel, 'the gateway namespace\'s kernel saw no TCP');
    assert.equal(now.igdTcp!.resetsSent, before.igdTcp!.resetsSent);
    assert.equal(now.igdTcp!.timedOut, 0);
  });

  test('on the wire: the SYN-ACK offers MSS 1460 and no window scaling; upnpc\'s connections end with FINs both ways, no RST', async () => {
    const segments = await captureDuring(lab().namespaces.h1, cleanup, join(lab().dir, 'h1-upnpc.pcap'), async () => {
      parseUpnpcList(await upnpc(lab(), 'h1', ['-l']));
    });
    const gw = lab().lanAddress;
    const streams = new Map<number, Segment[]>();
    for (const s of segments) streams.set(s.stream, [...(streams.get(s.stream) ?? []), s]);
    // Only connections opened while capturing (upnpc's): a segment of an earlier one may pass too.
    for (const [id, conn] of streams) if (!conn.some((s) => s.src !== gw && s.flags === FLAG.syn)) streams.delete(id);
    assert.ok(streams.size >= 3, `upnpc -l made ${streams.size} connections`);
    for (const [id, conn] of streams) {
      const synAck = conn.filter((s) => s.src === gw && (s.flags & (FLAG.syn | FLAG.ack)) === (FLAG.syn | FLAG.ack));
      assert.equal(synAck.length, 1, `stream ${id}: one SYN-ACK`);
      assert.equal(synAck[0]!.mss, 1460, `stream ${id}: MSS 1460`);
      assert.equal(synAck[0]!.wscale, false, `stream ${id}: no window scale option`);
      const syn = conn.find((s) => s.src !== gw && s.flags === FLAG.syn);
      assert.ok(syn?.wscale, `stream ${id}: Linux offered window scaling (which the SYN-ACK declined)`);
      assert.ok(conn.every((s) => (s.flags & FLAG.rst) === 0), `stream ${id}: no RST`);
      assert.ok(conn.some((s) => s.src === gw && (s.flags & FLAG.fin) !== 0), `stream ${id}: FIN from the gateway`);
      assert.ok(conn.some((s) => s.src !== gw && (s.flags & FLAG.fin) !== 0), `stream ${id}: FIN from h1`);
      const last = conn[conn.length - 1]!;
      assert.equal(last.flags, FLAG.ack, `stream ${id}: ends with the ACK of the last FIN`);
    }
  });

  test('a SYN flood of 600 half-open connections from h1: upnpc -l from h2 works at once, the oldest half-open ones made room', async () => {
    const h1 = lab().namespaces.h1;
    // h1's kernel knows none of the flood's connections and would answer each SYN-ACK with
    // RST, which frees the endpoint's slot at once and makes no flood. Its SYN-ACKs are
    // dropped on the way in (only those, by port range) rather than h1's RSTs on the way
    // out: the flood then looks like one from spoofed or vanished sources.
    for (const rule of ['add table ip oi_flood', 'add chain ip oi_flood input { type filter hook input priority 0 ; }',
      `add rule ip oi_flood input ip saddr ${lab().lanAddress} tcp sport 5000 tcp dport 20000-20599 drop`]) {
      await must(h1, 'nft', [rule]);
    }
    const before = await tcpCounters(lab());
    const flood = await must(h1, 'python3', [FAULTS_TOOL, 'syn-flood', lab().lanAddress, '5000', '20000', '600']);
    assert.match(flood, /^sent 600$/m);
    // The endpoint saw them all before upnpc starts: its counters are read, no time waited.
    await until('the flood to reach the endpoint', async () => {
      const now = await tcpCounters(lab());
      return now.toService >= before.toService + 600 && now;
    }, 10_000, 50);
    const listed = parseUpnpcList(await upnpc(lab(), 'h2', ['-l']));
    assert.ok(listed.some((m) => m.externalPort === 18080), 'the mapping from the first test is listed');
    const now = (await tcpCounters(lab())).igdTcp!;
    const old = before.igdTcp!;
    assert.ok(now.halfOpenDropped >= 600 - 128, `halfOpenDropped ${old.halfOpenDropped} -> ${now.halfOpenDropped}`);
    assert.equal(now.refused, old.refused, 'no SYN refused: half-open ones always made room');
    assert.ok(now.accepted >= old.accepted + 3, 'upnpc\'s connections were accepted');
    assert.equal(now.resetsReceived, old.resetsReceived, 'h1 reset none of the flood\'s connections');
    process.kill(lab().daemonPid, 0); // the same daemon still runs
  });
});

describe('the IGD over the userspace TCP endpoint under 10 % loss and reordering both ways', { skip }, () => {
  const cleanup = new Cleanup();
  const suite = labForSuite(cleanup, 'tl', 'igd: { version: 2, maxMappings: 1500 }');
  const lab = (): LabRecord => suite.lab!;

  /** Loss and reordering on h1 → gateway and gateway → h1 (see `impair`), or neither. */
  async function lossy(on: boolean): Promise<void> {
    for (const [ns, dev] of [[lab().namespaces.h1, 'eth0'], [lab().namespaces.lan, 'h1']] as const) {
      if (on) {
        cleanup.add(() => unimpair(ns, dev));
        await impair(ns, dev, join(lab().dir, `impair-${dev}.nft`));
      } else await unimpair(ns, dev);
    }
  }

  test('20 upnpc -a succeed and upnpc -l lists them all', async () => {
    const h1 = lab().hostAddresses.h1!;
    await lossy(true);
    // Four upnpc at a time (each waits out its own SYN's 1 s retransmission when it is lost).
    const next = { i: 0 };
    const retried = { count: 0 };
    const worker = async () => {
      for (let i = next.i++; i < 20; i = next.i++) {
        const out = await upnpcUnderLoss(lab(), ['-e', `lossy ${i}`, '-a', h1, String(8000 + i), String(18000 + i), 'TCP', '0'], retried);
        assert.match(out, new RegExp(`external 203\\.0\\.113\\.2:${18000 + i} TCP is redirected to internal`), out);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const listed = parseUpnpcList(await upnpcUnderLoss(lab(), ['-l'], retried));
    // A client timeout now and then is the loss; many would be the endpoint.
    assert.ok(retried.count <= 5, `${retried.count} upnpc calls timed out on the client's side`);
    assert.deepEqual(listed.map((m) => m.externalPort).sort(), Array.from({ length: 20 }, (_, i) => 18000 + i));
    await lossy(false);
    const tcp = await allClosed(lab());
    assert.ok(tcp.retransmits > 0, JSON.stringify(tcp));
    console.log(`# 20 adds and a list under loss (${retried.count} client timeouts tried again): ${JSON.stringify(tcp)}`);
  });

  test('GetListOfPortMappings of 1,000 entries under loss is the same, byte for byte, as without', async () => {
    const h1 = lab().hostAddresses.h1!;
    // IGD:1 adds (lease 0 stays static): every entry's lease reads the same at both fetches.
    const burst = background(lab().namespaces.h1, 'python3', [PORT_PROBE, 'add-burst', `${BASE}/ctl/IPConn`, V1, h1, '30000', '1000', '4']);
    cleanup.add(() => burst.stop());
    await until('1000 adds answered', async () => [...burst.output().matchAll(/^(ok|fail) /gm)].length >= 1000, 60_000, 100);
    assert.doesNotMatch(burst.output(), /^fail /m);
    const list = () => soap(lab(), V2, 'GetListOfPortMappings', [['NewStartPort', '30000'], ['NewEndPort', '30999'], ['NewProtocol', 'TCP'],
      ['NewManage', '1'], ['NewNumberOfPorts', '0']]);
    const reference = await list();
    assert.equal([...reference.matchAll(/<p:PortMappingEntry>/g)].length, 1000);
    const before = (await tcpCounters(lab())).igdTcp!;
    await lossy(true);
    const lossyBody = await list();
    await lossy(false);
    const after = await allClosed(lab());
    assert.equal(lossyBody.length, reference.length);
    assert.ok(lossyBody === reference, 'the same bytes');
    assert.ok(after.retransmits > before.retransmits, JSON.stringify({ before, after }));
    console.log(`# GetListOfPortMappings: ${reference.length} bytes; under loss ${after.retransmits - before.retransmits} retransmits`);
  });
});

describe('igd.tcp: kernel: the IGD over the local port and the kernel\'s TCP', { skip }, () => {
  const cleanup = new Cleanup();
  const suite = labForSuite(cleanup, 'tk', 'igd: { tcp: kernel }');
  const lab = (): LabRecord => suite.lab!;

  test('upnpc -a / -l work; igdTcp is null and nothing went to the endpoint', async () => {
    const h1 = lab().hostAddresses.h1!;
    const kernel = await kernelTcp(lab());
    assert.match(await upnpc(lab(), 'h1', ['-a', h1, '8080', '18080', 'TCP']), /external 203\.0\.113\.2:18080 TCP is redirected to internal [\d.]+:8080/);
    const listed = parseUpnpcList(await upnpc(lab(), 'h1', ['-l']));
    assert.deepEqual(listed.map((m) => `${m.protocol} ${m.externalPort}->${m.internalClient}:${m.internalPort}`), [`TCP 18080->${h1}:8080`]);
    const now = await tcpCounters(lab());
    assert.equal(now.igdTcp, null);
    assert.equal(now.toService, 0);
    const passive = (await kernelTcp(lab())).passiveOpens - kernel.passiveOpens;
    assert.ok(passive >= 4, `the gateway namespace's kernel accepted upnpc's connections: ${passive}`);
  });
});
