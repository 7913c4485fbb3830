/**
 * Issue 10, PCP (RFC 6887) in the lab, with our own client (test/lib/pcp-client.ts, written
 * from the RFC's figures) run from a LAN host:
 *  - MAP new (a connection from the internet namespace reaches the LAN host through it),
 *    renew, FILTER (only the allowed peer gets in; a renewal without FILTER keeps the set;
 *    prefix 0 clears it), another nonce from the same client (NOT_AUTHORIZED, the mapping
 *    kept), PREFER_FAILURE on a port held through UPnP (CANNOT_PROVIDE_EXTERNAL), delete
 *    (lifetime 0), THIRD_PARTY refused by default (UNSUPP_OPTION);
 *  - PEER: the external port a UDP flow will leave from, before its first packet; the
 *    server then sees the host's datagram from that port and its reply gets back; the flow
 *    is held past UDP's idle timeout; filtering stays as configured; no port mapping is
 *    made; an endpoint with a MAP mapping gets that mapping's port; another nonce neither
 *    renews nor ends the hold (NOT_AUTHORIZED with what it has left); lifetime 0 ends it
 *    (the flow back on its idle timer); a free suggested external port is the one given,
 *    a taken one is not;
 *  - one table with UPnP (upnpc) and NAT-PMP (natpmpc): each refuses the others' ports with
 *    its own answer, `upnpc -l` and /mappings list all three with their protocol, and they
 *    survive SIGTERM, kill -9 and an external address change;
 *  - PCP's ANNOUNCE reaches 224.0.0.1:5350 on the LAN at start and after `POST /wan`, with
 *    the epoch reset; after `POST /wan` the client also gets its MAP mapping with the new
 *    address unsolicited at its port 5350, three times (RFC 6887 §14.2);
 *  - tshark's PCP and NAT-PMP dissectors read every packet to or from 5351/5350 in the
 *    gateway's LAN captures without a malformed-packet warning.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, labRestartDaemon, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';
import { admin } from '../lib/admin.js';
import { PORT_PROBE, announcementsDuring, parseUpnpcList, probeMapping, type ProbeOptions } from '../lib/lab-probe.js';
import { PCP, decodeClientResponse, encodeClientRequest } from '@openigd/conformance';
import type { ClientMapFields, ClientOption, ClientRequest, ClientResponse } from '@openigd/conformance';

const DIR = '/run/openigd-lab';
const HERE = dirname(fileURLToPath(import.meta.url));
const ASK = join(HERE, '..', 'lib', 'pcp-ask.js');
const GW = '192.168.1.1';
const NEW_WAN = '203.0.113.7';
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

const NONCE_A = Uint8Array.from(Buffer.from('a1a2a3a4a5a6a7a8a9aaabac', 'hex'));
const NONCE_B = Uint8Array.from(Buffer.from('b1b2b3b4b5b6b7b8b9babbbc', 'hex'));
const TCP = 6;
const UDP = 17;

interface Mapping {
  protocol: string; externalPort: number; internalClient: string; internalPort: number; origin: string; description: string;
  nonce?: string; filters?: { remoteAddress: string; prefixLength: number; remotePort: number }[];
}

/** One line of natpmp-announce-listen.py: NAT-PMP (version 0) or PCP (version 2). */
interface Heard { atMs: number; from: string; version: number; op: number; result: number; epoch: number; address: string; length: number; hex: string }

function heard(output: string): Heard[] {
  return [...output.matchAll(/^announce (\d+) (\S+) ([0-9a-f]+)$/gm)].map((m) => {
    const b = Buffer.from(m[3]!, 'hex');
    const pcp = b[0] === 2;
    return {
      atMs: Number(m[1]), from: m[2]!, version: b[0]!, op: b[1]!, length: b.length, hex: m[3]!,
      result: pcp ? b[3]! : b.readUInt16BE(2),
      epoch: pcp ? b.readUInt32BE(8) : b.readUInt32BE(4),
      address: !pcp && b.length >= 12 ? [...b.subarray(8, 12)].join('.') : '',
    };
  });
}

describe('PCP with our client from a LAN host: MAP, FILTER, nonces, one table, ANNOUNCE, persistence (B2, B3)', { skip }, () => {
  const cleanup = new Cleanup();
  let lab: LabRecord;
  let h1 = '';
  let h2 = '';
  let capDir = '';
  after(() => cleanup.run());
  before(async () => {
    const prefix = uniquePrefix('c');
    capDir = join(DIR, `${prefix}-pcap`);
    cleanup.add(() => sh(null, 'rm', ['-rf', capDir]));
    cleanup.add(() => labDown(prefix, DIR));
    lab = await labUp({ prefix, dir: DIR, extraConfig: `capture: { dir: ${capDir} }` });
    h1 = lab.hostAddresses.h1!;
    h2 = lab.hostAddresses.h2!;
  });

  const mappings = async (): Promise<Mapping[]> => (await admin(lab.adminSocket, 'GET', '/mappings')).json as Mapping[];
  const find = async (protocol: string, externalPort: number): Promise<Mapping | undefined> =>
    (await mappings()).find((m) => m.protocol === protocol && m.externalPort === externalPort);

  /** Sends PCP requests from a LAN host (one socket, in order) and decodes the answers. */
  async function askAll(ns: string, requests: readonly ClientRequest[]): Promise<ClientResponse[]> {
    const out = await must(ns, process.execPath, [ASK, GW, ...requests.map((r) => encodeClientRequest(r).toString('hex'))], 30_000);
    const answers = [...out.matchAll(/^answer ([0-9a-f]+)$/gm)].map((m) => decodeClientResponse(Buffer.from(m[1]!, 'hex')));
    assert.equal(answers.length, requests.length, out);
    for (const a of answers) assert.equal(a.version, 2);
    return answers;
  }
  const ask = async (ns: string, request: ClientRequest): Promise<ClientResponse> => (await askAll(ns, [request]))[0]!;

  const fields = (over: Partial<ClientMapFields> = {}): ClientMapFields =>
    ({ nonce: NONCE_A, protocol: TCP, internalPort: 8080, externalPort: 28080, externalIp: '', ...over });
  const map = (clientIp: string, over: Partial<ClientMapFields> = {}, lifetime = 3600, options: ClientOption[] = []): ClientRequest =>
    ({ opcode: 'map', lifetime, clientIp, map: fields(over), options });
  const onlyFrom = (ip: string): ClientOption => ({ kind: 'filter', prefixLength: 128, remotePort: 0, remoteIp: ip });

  const probe = (proto: 'tcp' | 'udp', externalAddr: string, externalPort: number, internalPort: number, opts: ProbeOptions) =>
    probeMapping(lab, cleanup, proto, externalAddr, externalPort, internalPort, opts);

  const listenForAnnouncements = async (during: () => Promise<void>, done: (a: Heard[]) => boolean, unicastToo = false): Promise<Heard[]> =>
    heard(await announcementsDuring(lab.namespaces.h1, h1, cleanup, during, (out) => done(heard(out)), 30_000, unicastToo));

  test('MAP new: the suggested port on the external address; the internet reaches h1 through it; listed as PCP', async () => {
    const r = await ask(lab.namespaces.h1, map(h1));
    assert.deepEqual([r.resultText, r.opcode, r.lifetime, r.map?.externalPort, r.map?.externalIp, r.map?.internalPort],
      ['SUCCESS', PCP.opcode.map, 3600, 28080, '203.0.113.2', 8080]);
    assert.deepEqual(Buffer.from(r.map!.nonce), Buffer.from(NONCE_A));
    await probe('tcp', lab.wanAddress, 28080, 8080, { expect: true });
    const m = await find('TCP', 28080);
    assert.deepEqual([m?.origin, m?.internalClient, m?.internalPort, m?.nonce], ['pcp', h1, 8080, 'a1a2a3a4a5a6a7a8a9aaabac']);
  });

  test('renew keeps the port; FILTER lets in only its peer, a renewal without FILTER keeps it, prefix 0 clears it', async () => {
    const [a, b] = lab.servers as [string, string];
    const renewed = await ask(lab.namespaces.h1, map(h1, { externalPort: 0 }, 7200));
    assert.deepEqual([renewed.resultText, renewed.lifetime, renewed.map?.externalPort], ['SUCCESS', 7200, 28080]);
    const filtered = await ask(lab.namespaces.h1, map(h1, {}, 7200, [onlyFrom(a)]));
    assert.equal(filtered.resultText, 'SUCCESS');
    assert.deepEqual(filtered.options.map((o) => o.code), [PCP.option.filter], 'the FILTER option is echoed as processed');
    await probe('tcp', lab.wanAddress, 28080, 8080, { expect: true, source: a });
    await probe('tcp', lab.wanAddress, 28080, 8080, { expect: false, source: b });
    assert.equal((await ask(lab.namespaces.h1, map(h1, {}, 7200))).resultText, 'SUCCESS');
    assert.deepEqual((await find('TCP', 28080))?.filters, [{ remoteAddress: a, prefixLength: 128, remotePort: 0 }]);
    await probe('tcp', lab.wanAddress, 28080, 8080, { expect: false, source: b });
    const cleared = await ask(lab.namespaces.h1, map(h1, {}, 7200, [{ kind: 'filter', prefixLength: 0, remotePort: 0, remoteIp: '' }]));
    assert.equal(cleared.resultText, 'SUCCESS');
    assert.equal((await find('TCP', 28080))?.filters, undefined);
    await probe('tcp', lab.wanAddress, 28080, 8080, { expect: true, source: b });
  });

  test('another nonce from the same client: NOT_AUTHORIZED (map and delete) with the lifetime left; the mapping is not stolen', async () => {
    const [stolen, deleted] = await askAll(lab.namespaces.h1, [map(h1, { nonce: NONCE_B }), map(h1, { nonce: NONCE_B }, 0)]);
    for (const r of [stolen!, deleted!]) {
      assert.equal(r.resultText, 'NOT_AUTHORIZED');
      assert.ok(r.lifetime > 7000 && r.lifetime <= 7200, `the mapping's remaining lifetime: ${r.lifetime}`);
    }
    assert.equal((await find('TCP', 28080))?.nonce, 'a1a2a3a4a5a6a7a8a9aaabac');
  });

  test('PREFER_FAILURE on a port held through UPnP: CANNOT_PROVIDE_EXTERNAL; without it another port; lifetime 0 deletes', async () => {
    const added = await must(lab.namespaces.h2, 'upnpc', ['-i', '-e', 'upnp web', '-a', h2, '9000', '29000', 'TCP'], 30_000);
    assert.match(added, /external 203\.0\.113\.2:29000 TCP is redirected/);
    const refused = await ask(lab.namespaces.h1, map(h1, { internalPort: 9000, externalPort: 29000 }, 600, [{ kind: 'prefer-failure' }]));
    assert.equal(refused.resultText, 'CANNOT_PROVIDE_EXTERNAL');
    const moved = await ask(lab.namespaces.h1, map(h1, { internalPort: 9000, externalPort: 29000 }, 600));
    assert.equal(moved.resultText, 'SUCCESS');
    const port = moved.map!.externalPort;
    assert.notEqual(port, 29000);
    assert.equal((await find('TCP', port))?.origin, 'pcp');
    assert.equal((await find('TCP', 29000))?.origin, 'upnp');
    const gone = await ask(lab.namespaces.h1, map(h1, { internalPort: 9000, externalPort: port }, 0));
    assert.deepEqual([gone.resultText, gone.lifetime, gone.map?.externalPort], ['SUCCESS', 0, port]);
    assert.equal(await find('TCP', port), undefined);
    await probe('tcp', lab.wanAddress, port, 9000, { expect: false, source: lab.servers[1]! });
  });

  test('THIRD_PARTY is refused by default (UNSUPP_OPTION); nothing is mapped', async () => {
    const before = (await mappings()).length;
    const third = await ask(lab.namespaces.h1, map(h1, { internalPort: 7000, externalPort: 27000 }, 600, [{ kind: 'third-party', internalIp: h2 }]));
    assert.equal(third.resultText, 'UNSUPP_OPTION');
    assert.equal((await mappings()).length, before);
  });

  const peer = (internalPort: number, protocol: number, remoteIp: string, remotePort: number, lifetime = 600, over: Partial<ClientMapFields> = {}): ClientRequest =>
    ({ opcode: 'peer', lifetime, clientIp: h1, map: fields({ protocol, internalPort, externalPort: 0, ...over }), remotePort, remoteIp });

  test('PEER: the external port comes before the first packet, which then leaves from it; the reply gets back; no port mapping', async () => {
    const [server, other] = lab.servers as [string, string];
    const before = (await mappings()).length;
    const r = await ask(lab.namespaces.h1, peer(7001, UDP, server, 3478));
    assert.deepEqual([r.resultText, r.opcode, r.lifetime, r.map?.externalIp, r.map?.internalPort, r.remotePort, r.remoteIp],
      ['SUCCESS', PCP.opcode.peer, 600, lab.wanAddress, 7001, 3478, server]);
    assert.deepEqual(Buffer.from(r.map!.nonce), Buffer.from(NONCE_A));
    const external = r.map!.externalPort;
    const { flows } = (await admin(lab.adminSocket, 'GET', '/flows?proto=udp&port=7001')).json as { flows: { protocol: string; internal: string; external: string; remote: string; expiresInMs: number }[] };
    const flow = flows.find((f) => f.protocol === 'udp' && f.internal === `${h1}:7001` && f.remote === `${server}:3478`);
    assert.equal(flow?.external, `${lab.wanAddress}:${external}`, JSON.stringify(flows));
    const left = flow?.expiresInMs ?? 0;
    assert.ok(left > 590_000, `held for the PEER lifetime, past UDP's 300 s: ${left} ms`);

    // The server sees h1's datagram from the port PEER reported, and its reply reaches h1.
    const listener = background(lab.namespaces.inet, 'python3', [PORT_PROBE, 'listen', 'udp', '3478', '8', server]);
    cleanup.add(() => listener.stop());
    await listener.listening('udp', 3478, server);
    const sent = await sh(lab.namespaces.h1, 'python3', [PORT_PROBE, 'send', 'udp', server, '3478', '5', `${h1}:7001`]);
    await listener.stop();
    assert.match(listener.output(), new RegExp(`got udp from ${lab.wanAddress.replace(/\./g, '\\.')}:${external} ping`));
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    assert.match(sent.stdout, /reply pong/);

    // Filtering stays as configured (the lab's rfc preset: endpoint-independent mapping,
    // address-dependent filtering): the server from another port gets in, another host not.
    await probe('udp', lab.wanAddress, external, 7001, { expect: true, source: server });
    await probe('udp', lab.wanAddress, external, 7001, { expect: false, source: other });
    assert.equal((await mappings()).length, before, 'PEER made no port mapping');
  });

  /** The flow h1:`internalPort` → `remote` as /flows shows it. */
  async function flowOf(internalPort: number, remote: string): Promise<{ external: string; expiresInMs: number } | undefined> {
    const { flows } = (await admin(lab.adminSocket, 'GET', `/flows?proto=udp&port=${internalPort}`)).json as
      { flows: { protocol: string; internal: string; external: string; remote: string; expiresInMs: number }[] };
    return flows.find((f) => f.protocol === 'udp' && f.internal === `${h1}:${internalPort}` && f.remote === remote);
  }

  test('PEER with another nonce: NOT_AUTHORIZED with what the hold has left, for a renewal and for lifetime 0; the hold unchanged', async () => {
    const server = lab.servers[0]!;
    const other = (lifetime: number): ClientRequest => peer(7001, UDP, server, 3478, lifetime, { nonce: NONCE_B });
    const [renew, end] = await askAll(lab.namespaces.h1, [other(3600), other(0)]);
    for (const r of [renew!, end!]) {
      assert.equal(r.resultText, 'NOT_AUTHORIZED');
      assert.ok(r.lifetime > 500 && r.lifetime <= 600, `the hold's remaining lifetime: ${r.lifetime}`);
      assert.deepEqual(Buffer.from(r.map!.nonce), Buffer.from(NONCE_B), 'the request echoed');
    }
    const flow = await flowOf(7001, `${server}:3478`);
    assert.ok(flow !== undefined && flow.expiresInMs > 500_000 && flow.expiresInMs <= 600_000, `still held as before: ${JSON.stringify(flow)}`);
  });

  test('PEER lifetime 0 with its nonce: SUCCESS, lifetime 0, the flow\'s port; the flow is back on its idle timer; again is SUCCESS', async () => {
    const server = lab.servers[0]!;
    const held = await flowOf(7001, `${server}:3478`);
    const [ended, again] = await askAll(lab.namespaces.h1, [peer(7001, UDP, server, 3478, 0), peer(7001, UDP, server, 3478, 0)]);
    assert.deepEqual([ended!.resultText, ended!.lifetime, `${ended!.map?.externalIp}:${ended!.map?.externalPort}`], ['SUCCESS', 0, held?.external]);
    assert.deepEqual([again!.resultText, again!.lifetime], ['SUCCESS', 0]);
    const flow = await flowOf(7001, `${server}:3478`);
    assert.ok(flow !== undefined && flow.expiresInMs <= 300_000, `UDP's idle timeout rules again: ${JSON.stringify(flow)}`);
    // The hold ended, the flow is anyone's to hold: another nonce now succeeds.
    const other = await ask(lab.namespaces.h1, peer(7001, UDP, server, 3478, 120, { nonce: NONCE_B }));
    assert.equal(other.resultText, 'SUCCESS');
  });

  test('PEER suggested external port: given when free for a new flow; a taken one gets another port', async () => {
    const server = lab.servers[0]!;
    const wish = (internalPort: number): ClientRequest => peer(internalPort, UDP, server, 3479, 600, { externalPort: 47002 });
    const [got, taken] = await askAll(lab.namespaces.h1, [wish(7002), wish(7003)]);
    assert.deepEqual([got!.resultText, got!.map?.externalPort], ['SUCCESS', 47002]);
    assert.equal((await flowOf(7002, `${server}:3479`))?.external, `${lab.wanAddress}:47002`);
    assert.equal(taken!.resultText, 'SUCCESS');
    assert.notEqual(taken!.map?.externalPort, 47002);
    assert.equal((await flowOf(7003, `${server}:3479`))?.external, `${lab.wanAddress}:${taken!.map?.externalPort}`);
  });

  test('PEER for an endpoint with a MAP mapping: the mapping\'s external port', async () => {
    const r = await ask(lab.namespaces.h1, peer(8080, TCP, lab.servers[0]!, 443));
    assert.deepEqual([r.resultText, r.map?.externalPort], ['SUCCESS', 28080]);
    assert.equal((await find('TCP', 28080))?.nonce, 'a1a2a3a4a5a6a7a8a9aaabac', 'the MAP mapping is left as it was');
  });

  test('one table: NAT-PMP, UPnP and PCP each refuse the others\' ports in their own words; all listed with their protocol', async () => {
    const natpmp = await must(lab.namespaces.h2, 'natpmpc', ['-g', GW, '-a', '19090', '9090', 'udp', '3600'], 30_000);
    assert.match(natpmp, /Mapped public port 19090 protocol UDP to local port 9090/);
    // PCP: a port NAT-PMP holds (PREFER_FAILURE), and an internal endpoint NAT-PMP maps.
    assert.equal((await ask(lab.namespaces.h1, map(h1, { protocol: UDP, internalPort: 9090, externalPort: 19090 }, 600, [{ kind: 'prefer-failure' }]))).resultText,
      'CANNOT_PROVIDE_EXTERNAL');
    assert.equal((await ask(lab.namespaces.h2, map(h2, { protocol: UDP, internalPort: 9090, externalPort: 0 }, 600))).resultText, 'NOT_AUTHORIZED');
    // UPnP: PCP's port is 718.
    const upnp = await sh(lab.namespaces.h1, 'upnpc', ['-i', '-a', h1, '8080', '28080', 'TCP'], 30_000);
    assert.match(upnp.stdout + upnp.stderr, /718/, upnp.stdout + upnp.stderr);
    // NAT-PMP: PCP's port makes it assign another.
    const other = await must(lab.namespaces.h2, 'natpmpc', ['-g', GW, '-a', '28080', '8080', 'tcp', '3600'], 30_000);
    const port = Number(/Mapped public port (\d+) protocol TCP to local port 8080/.exec(other)?.[1]);
    assert.ok(port > 0 && port !== 28080, other);
    await must(lab.namespaces.h2, 'natpmpc', ['-g', GW, '-a', String(port), '8080', 'tcp', '0'], 30_000);

    const listed = parseUpnpcList(await must(lab.namespaces.h1, 'upnpc', ['-i', '-l'], 30_000))
      .map((r) => `${r.protocol} ${r.externalPort}->${r.internalClient}:${r.internalPort} '${r.description}'`);
    for (const row of [`TCP 28080->${h1}:8080 'PCP 8080 tcp'`, `UDP 19090->${h2}:9090 'NAT-PMP 9090 udp'`, `TCP 29000->${h2}:9000 'upnp web'`]) {
      assert.ok(listed.includes(row), `${row} in ${listed.join(', ')}`);
    }
    const origins = new Map((await mappings()).map((m) => [`${m.protocol} ${m.externalPort}`, m.origin]));
    assert.deepEqual([origins.get('TCP 28080'), origins.get('UDP 19090'), origins.get('TCP 29000')], ['pcp', 'natpmp', 'upnp']);
  });

  /** The three mappings of the one-table test, with PCP's nonce. */
  async function assertAllThree(): Promise<void> {
    const all = await mappings();
    const got = (p: string, port: number) => all.find((m) => m.protocol === p && m.externalPort === port);
    assert.deepEqual([got('TCP', 28080)?.origin, got('TCP', 28080)?.nonce, got('UDP', 19090)?.origin, got('TCP', 29000)?.origin],
      ['pcp', 'a1a2a3a4a5a6a7a8a9aaabac', 'natpmp', 'upnp'], JSON.stringify(all));
  }

  test('start: PCP ANNOUNCE on 224.0.0.1:5350 after each NAT-PMP announcement, epoch from 0; the mappings survive SIGTERM', async () => {
    const seen = await listenForAnnouncements(async () => {
      lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
    }, (a) => a.filter((x) => x.version === 2).length >= 2);
    const pcp = seen.filter((a) => a.version === 2);
    for (const a of pcp) {
      assert.deepEqual([a.from, a.op, a.result, a.length], [`${GW}:5351`, 0x80 | PCP.opcode.announce, 0, 24], JSON.stringify(a));
    }
    assert.ok(pcp[0]!.epoch <= 1, `epoch ${pcp[0]!.epoch}`);
    assert.equal(seen[0]!.version, 0, 'NAT-PMP first, PCP after it');
    await assertAllThree();
    // The stored nonce is still the one that may renew it, at its port.
    const renewed = await ask(lab.namespaces.h1, map(h1, { externalPort: 0 }, 3600));
    assert.deepEqual([renewed.resultText, renewed.map?.externalPort], ['SUCCESS', 28080]);
    assert.ok(renewed.epoch < 60, `a fresh epoch: ${renewed.epoch}`);
    await probe('tcp', lab.wanAddress, 28080, 8080, { expect: true });
  });

  test('kill -9: all three mappings are back, and another nonce is still refused', async () => {
    process.kill(lab.daemonPid, 'SIGKILL');
    lab = await labRestartDaemon(lab.prefix, DIR, 'SIGKILL');
    await assertAllThree();
    assert.equal((await ask(lab.namespaces.h1, map(h1, { nonce: NONCE_B }))).resultText, 'NOT_AUTHORIZED');
    await probe('udp', lab.wanAddress, 19090, 9090, { expect: true, listenNs: lab.namespaces.h2 });
  });

  test('POST /wan: PCP ANNOUNCE with a reset epoch and the MAP mapping sent unsolicited; PCP renews on the new address; all three forward on it', async () => {
    await until('the epoch to pass 2 s', async () => {
      const r = await ask(lab.namespaces.h1, { opcode: 'announce', lifetime: 0, clientIp: h1 });
      return r.epoch >= 3 || null;
    }, 20_000, 500);
    const isUpdate = (x: Heard): boolean => x.version === 2 && x.op === (0x80 | PCP.opcode.map);
    const seen = await listenForAnnouncements(async () => {
      const r = await admin(lab.adminSocket, 'POST', '/wan', { address: `${NEW_WAN}/24`, gateway: lab.wanGateway });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }, (a) => {
      const i = a.findIndex((x) => x.version === 0 && x.address === NEW_WAN);
      return i >= 0 && a.slice(i).some((x) => x.version === 2 && x.op === 0x80) && a.filter(isUpdate).length >= 3;
    }, true);
    const first = seen.findIndex((x) => x.version === 0 && x.address === NEW_WAN);
    const pcp = seen.slice(first).find((x) => x.version === 2 && x.op === 0x80)!;
    assert.ok(pcp.epoch <= 1, `PCP epoch after the change: ${pcp.epoch}`);
    // §14.2: h1's MAP mapping, unsolicited, to h1:5350, three times 250 then 500 ms apart.
    const updates = seen.filter(isUpdate);
    assert.equal(updates.length, 3, JSON.stringify(updates));
    for (const u of updates) {
      const r = decodeClientResponse(Buffer.from(u.hex, 'hex'));
      assert.deepEqual([u.from, r.resultText, r.map?.externalIp, r.map?.externalPort, r.map?.internalPort, r.map?.protocol],
        [`${GW}:5351`, 'SUCCESS', NEW_WAN, 28080, 8080, TCP]);
      assert.deepEqual(Buffer.from(r.map!.nonce), Buffer.from(NONCE_A));
      assert.ok(r.lifetime > 3000 && r.lifetime <= 3600, `the lifetime left: ${r.lifetime}`);
      assert.ok(r.epoch <= 2, `the new epoch: ${r.epoch}`);
    }
    assert.ok(updates[1]!.atMs - updates[0]!.atMs >= 240 && updates[2]!.atMs - updates[1]!.atMs >= 490,
      `gaps ${updates[1]!.atMs - updates[0]!.atMs} and ${updates[2]!.atMs - updates[1]!.atMs} ms`);
    const renewed = await ask(lab.namespaces.h1, map(h1, { externalPort: 0 }, 3600));
    assert.deepEqual([renewed.resultText, renewed.map?.externalIp, renewed.map?.externalPort], ['SUCCESS', NEW_WAN, 28080]);
    await probe('tcp', NEW_WAN, 28080, 8080, { expect: true });
    await probe('udp', NEW_WAN, 19090, 9090, { expect: true, listenNs: lab.namespaces.h2 });
    await probe('tcp', NEW_WAN, 29000, 9000, { expect: true, listenNs: lab.namespaces.h2 });
  });

  test('/status counts PCP answers by result and drops by reason', async () => {
    const status = (await admin(lab.adminSocket, 'GET', '/status')).json as { igd: { pcp: { requests: number; results: Record<string, number>; drops: Record<string, number> } } };
    const pcp = status.igd.pcp;
    assert.ok(pcp.requests >= 2 && (pcp.results.SUCCESS ?? 0) >= 1, JSON.stringify(pcp));
    assert.deepEqual(Object.keys(pcp.drops).sort(), ['header-too-short', 'response', 'too-short']);
  });

  test('tshark decodes every PCP and NAT-PMP packet on the LAN, none malformed', async () => {
    const files = (await readdir(capDir)).filter((f) => f.startsWith('lan-') && f.endsWith('.pcap'));
    assert.ok(files.length >= 3, `a LAN capture per daemon run: ${files.join(', ')}`);
    const ours = 'udp.port == 5351 || udp.port == 5350';
    const versions = new Map<string, number>();
    const pcpOps = new Set<number>();
    let unsolicitedMaps = 0;
    for (const f of files) {
      const path = join(capDir, f);
      const bad = await must(null, 'tshark', ['-n', '-r', path, '-Y', `(${ours}) && (_ws.malformed || _ws.expert.severity >= "warning")`], 60_000);
      assert.equal(bad.trim(), '', `${f}: tshark warns about PCP or NAT-PMP packets`);
      const rows = (await must(null, 'tshark', ['-n', '-r', path, '-Y', ours, '-T', 'fields', '-e', 'nat-pmp.version', '-e', 'portcontrol.version', '-e', 'portcontrol.opcode', '-e', 'portcontrol.r', '-e', 'udp.dstport'], 60_000))
        .trim().split('\n').filter(Boolean);
      for (const row of rows) {
        const [natpmp, pcp, op, r, dstPort] = row.split('\t');
        const version = natpmp || pcp || '?';
        assert.ok(version === '0' || version === '2', `${f}: neither NAT-PMP nor PCP to tshark: ${row}`);
        versions.set(version, (versions.get(version) ?? 0) + 1);
        const code = Number(op) | (r === '1' || r === 'True' ? 0x80 : 0);
        if (version === '2') pcpOps.add(code);
        if (version === '2' && code === (0x80 | PCP.opcode.map) && dstPort === '5350') unsolicitedMaps++;
      }
    }
    assert.ok((versions.get('2') ?? 0) > 20 && (versions.get('0') ?? 0) > 5, JSON.stringify([...versions]));
    // MAP, PEER and ANNOUNCE requests and their responses (announcements are 128 too).
    assert.deepEqual([...pcpOps].sort((a, b) => a - b), [0, 1, 2, 128, 129, 130]);
    // The three after POST /wan, and no others (restarts keep the address: nothing to update).
    assert.equal(unsolicitedMaps, 3, 'the unsolicited MAP responses to 5350, decoded as PCP');
    console.log(`# tshark read ${versions.get('2')} PCP and ${versions.get('0')} NAT-PMP packets in ${files.length} LAN captures, none malformed`);
  });
});
