/**
 * The SSDP advertiser on loopback (multicast works on lo here): NOTIFY alive at start and
 * periodically, byebye at stop, answers for every ST kind unicast and multicast, MX rules,
 * askers outside the LAN subnet ignored, malformed datagrams counted, the answer rate bounded.
 * Every socket is closed in `finally`/`after`; every wait is bounded in time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { SsdpAdvertiser, ssdpServerString } from './ssdp.js';
import type { SsdpAdvertiserOptions } from './ssdp.js';
import { SSDP_MULTICAST_ADDRESS, formatSsdpSearch, parseSsdpMessage } from './ssdp-message.js';
import type { SsdpDevice, SsdpHeaders } from './ssdp-message.js';
import { SsdpConfigError, SsdpSocketError } from './errors.js';

const ROOT = '11111111-2222-4333-8444-555555555555';
const WAN = '66666666-7777-5888-9999-aaaaaaaaaaaa';
const CONN = 'bbbbbbbb-cccc-5ddd-8eee-ffffffffffff';
const DEVICES: SsdpDevice[] = [
  { uuid: ROOT, deviceType: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1', serviceTypes: ['urn:schemas-upnp-org:service:Layer3Forwarding:1'] },
  { uuid: WAN, deviceType: 'urn:schemas-upnp-org:device:WANDevice:1', serviceTypes: ['urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1'] },
  { uuid: CONN, deviceType: 'urn:schemas-upnp-org:device:WANConnectionDevice:1', serviceTypes: ['urn:schemas-upnp-org:service:WANIPConnection:1'] },
];
const LOCATION = 'http://127.0.0.1:5000/rootDesc.xml';
const SERVER = 'Linux/6.1 UPnP/1.1 OpenIGD/0.1';

interface Received {
  readonly text: string;
  readonly headers: SsdpHeaders;
  readonly startLine: string;
  readonly atMs: number;
}

/** A UDP socket that records what it receives. */
class Peer {
  readonly received: Received[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('message', (msg) => {
      const parsed = parseSsdpMessage(msg);
      const text = msg.toString('utf8');
      this.received.push({
        text, headers: parsed.ok ? parsed.message.headers : new Map(), startLine: text.split('\r\n')[0], atMs: performance.now(),
      });
    });
  }

  /** Bound to `address`:0; with `joinGroup`, bound to 0.0.0.0 and a member of the SSDP group on 127.0.0.1. */
  static async open(address: string, joinGroup = false): Promise<Peer> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, joinGroup ? '0.0.0.0' : address, () => resolve());
    });
    if (joinGroup) socket.addMembership(SSDP_MULTICAST_ADDRESS, address);
    socket.setMulticastInterface(address);
    return new Peer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(text: string, port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(text, port, address, (e) => (e ? reject(e) : resolve())));
  }

  /** Waits until `count` datagrams (from index `from`) arrived, or `timeoutMs`; returns them. */
  async waitFor(count: number, timeoutMs: number, from = 0): Promise<Received[]> {
    const deadline = performance.now() + timeoutMs;
    while (this.received.length - from < count && performance.now() < deadline) await sleep(5);
    return this.received.slice(from);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms for at most `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition() && performance.now() < deadline) await sleep(5);
  return condition();
}

function options(over: Partial<SsdpAdvertiserOptions>): SsdpAdvertiserOptions {
  return {
    lanAddress: '127.0.0.1', lanPrefixLength: 32, location: LOCATION, devices: DEVICES, server: SERVER,
    bootId: 5, configId: 2, port: 0, announceRepeats: 2, announceSpacingMs: 30, ...over,
  };
}

function search(st: string, extra: { mx?: number; host?: string } = {}): string {
  return formatSsdpSearch({ st, mx: extra.mx, host: extra.host ?? '127.0.0.1:1900' });
}

describe('SSDP advertiser on loopback', () => {
  let listener: Peer;
  let client: Peer;
  let outsider: Peer;
  let advertiser: SsdpAdvertiser;
  let port: number;

  before(async () => {
    listener = await Peer.open('127.0.0.1', true);
    client = await Peer.open('127.0.0.1');
    outsider = await Peer.open('127.0.0.2');
    advertiser = new SsdpAdvertiser(options({ multicastPort: listener.port }), { random: () => 0 });
    await advertiser.start();
    port = advertiser.address().port;
  });

  after(async () => {
    await advertiser.stop();
    await Promise.all([listener.close(), client.close(), outsider.close()]);
  });

  test('start: NOTIFY ssdp:alive for every advertisement, twice, with every UDA 1.1 header', async () => {
    const got = (await listener.waitFor(20, 10_000)).filter((r) => r.headers.get('nts') === 'ssdp:alive');
    assert.equal(got.length, 20);
    const usns = got.map((r) => r.headers.get('usn'));
    assert.deepEqual([...new Set(usns)].sort(), advertiser.advertised().map((a) => a.usn).sort());
    for (const usn of new Set(usns)) assert.equal(usns.filter((u) => u === usn).length, 2, `${usn} sent twice`);
    for (const r of got) {
      assert.equal(r.startLine, 'NOTIFY * HTTP/1.1');
      assert.equal(r.headers.get('host'), '239.255.255.250:1900');
      assert.equal(r.headers.get('cache-control'), 'max-age=1800');
      assert.equal(r.headers.get('location'), LOCATION);
      assert.equal(r.headers.get('server'), SERVER);
      assert.equal(r.headers.get('bootid.upnp.org'), '5');
      assert.equal(r.headers.get('configid.upnp.org'), '2');
      assert.equal(r.headers.get('searchport.upnp.org'), String(port));
      const nt = r.headers.get('nt')!;
      assert.ok(r.headers.get('usn') === nt || r.headers.get('usn')!.endsWith(`::${nt}`), `USN matches NT ${nt}`);
    }
    assert.ok(advertiser.counters().notifiesSent >= 20);
  });

  test('unicast M-SEARCH: answers for each ST kind, to the asker, at once', async () => {
    const cases: [string, string[]][] = [
      ['ssdp:all', advertiser.advertised().map((a) => a.usn)],
      ['upnp:rootdevice', [`uuid:${ROOT}::upnp:rootdevice`]],
      [`uuid:${WAN}`, [`uuid:${WAN}`]],
      ['urn:schemas-upnp-org:device:InternetGatewayDevice:1', [`uuid:${ROOT}::urn:schemas-upnp-org:device:InternetGatewayDevice:1`]],
      ['urn:schemas-upnp-org:device:WANConnectionDevice:1', [`uuid:${CONN}::urn:schemas-upnp-org:device:WANConnectionDevice:1`]],
      ['urn:schemas-upnp-org:service:WANIPConnection:1', [`uuid:${CONN}::urn:schemas-upnp-org:service:WANIPConnection:1`]],
      ['urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1', [`uuid:${WAN}::urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1`]],
    ];
    for (const [st, usns] of cases) {
      const from = client.received.length;
      const sentAt = performance.now();
      await client.send(search(st), port);
      const got = await client.waitFor(usns.length, 10_000, from);
      assert.equal(got.length, usns.length, `answers to ${st}`);
      assert.deepEqual(got.map((r) => r.headers.get('usn')).sort(), [...usns].sort());
      for (const r of got) {
        assert.equal(r.startLine, 'HTTP/1.1 200 OK');
        assert.equal(r.headers.get('cache-control'), 'max-age=1800');
        assert.match(r.headers.get('date')!, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
        assert.equal(r.headers.get('ext'), '');
        assert.equal(r.headers.get('location'), LOCATION);
        assert.equal(r.headers.get('server'), SERVER);
        assert.equal(r.headers.get('bootid.upnp.org'), '5');
        assert.equal(r.headers.get('configid.upnp.org'), '2');
        if (st !== 'ssdp:all') assert.equal(r.headers.get('st'), st);
        assert.ok(r.atMs - sentAt < 500);
      }
    }
  });

  test('unicast M-SEARCH for no advertisement of ours is counted, not answered', async () => {
    const before = advertiser.counters();
    const from = client.received.length;
    await client.send(search('urn:schemas-upnp-org:device:WANDevice:2'), port);
    await client.send(search('urn:schemas-upnp-org:device:MediaServer:1'), port);
    assert.ok(await until(() => advertiser.counters().searchesUnmatched === before.searchesUnmatched + 2, 10_000));
    await sleep(50);
    assert.equal(client.received.length, from);
  });

  test('multicast M-SEARCH: answered with MX, dropped without MX (UDA 1.1)', async () => {
    const before = advertiser.counters();
    let from = client.received.length;
    await client.send(search('upnp:rootdevice', { mx: 1, host: '239.255.255.250:1900' }), port, SSDP_MULTICAST_ADDRESS);
    const got = await client.waitFor(1, 10_000, from);
    assert.equal(got.length, 1);
    assert.equal(got[0].headers.get('st'), 'upnp:rootdevice');

    from = client.received.length;
    await client.send(search('upnp:rootdevice', { host: '239.255.255.250:1900' }), port, SSDP_MULTICAST_ADDRESS);
    assert.ok(await until(() => advertiser.counters().searchesWithoutMx === before.searchesWithoutMx + 1, 10_000));
    await sleep(50);
    assert.equal(client.received.length, from);
  });

  test('an asker outside the LAN subnet is ignored and counted', async () => {
    const before = advertiser.counters().outsideLan;
    await outsider.send(search('ssdp:all'), port);
    await outsider.send(search('ssdp:all', { mx: 1, host: '239.255.255.250:1900' }), port, SSDP_MULTICAST_ADDRESS);
    assert.ok(await until(() => advertiser.counters().outsideLan === before + 2, 10_000));
    await sleep(50);
    assert.equal(outsider.received.length, 0);
  });

  test('malformed datagrams are counted by reason and answered by nothing', async () => {
    const before = advertiser.counters();
    const from = client.received.length;
    await client.send('\u0000\u0001binary junk\u00ff', port);
    await client.send('M-SEARCH * HTTP/1.1\r\nHOST: 127.0.0.1:1900\r\nST: ssdp:all\r\n\r\n', port);
    await client.send(`M-SEARCH * HTTP/1.1\r\nX: ${'a'.repeat(4000)}\r\n\r\n`, port);
    assert.ok(await until(() => advertiser.counters().received >= before.received + 3, 10_000));
    const after = advertiser.counters().malformed;
    assert.equal(after.binary, before.malformed.binary + 1);
    assert.equal(after['missing-man'], before.malformed['missing-man'] + 1);
    assert.equal(after['header-too-long'], before.malformed['header-too-long'] + 1);
    await client.send(search('upnp:rootdevice'), port);
    const got = await client.waitFor(1, 10_000, from);
    assert.equal(got.length, 1, 'still answering after junk');
  });
});

test('answers wait a random delay within MX for multicast, none for unicast', async () => {
  const client = await Peer.open('127.0.0.1');
  const advertiser = new SsdpAdvertiser(options({ multicastPort: client.port, announceRepeats: 1 }), { random: () => 0.5 });
  try {
    await advertiser.start();
    const port = advertiser.address().port;
    let from = client.received.length;
    let sentAt = performance.now();
    await client.send(search('upnp:rootdevice', { mx: 1, host: '239.255.255.250:1900' }), port, SSDP_MULTICAST_ADDRESS);
    let got = (await client.waitFor(1, 10_000, from)).filter((r) => r.startLine.startsWith('HTTP/1.1 200'));
    assert.equal(got.length, 1);
    const delayMs = got[0].atMs - sentAt;
    assert.ok(delayMs >= 450, `delay ${delayMs} ms for random 0.5, MX 1`);

    from = client.received.length;
    sentAt = performance.now();
    await client.send(search('upnp:rootdevice'), port);
    got = await client.waitFor(1, 10_000, from);
    assert.equal(got.length, 1);
    // Not held back: with MX the same draw (0.5) would have waited 500 ms, as above.
    assert.ok(got[0].atMs - sentAt < 450, `a unicast search answered after ${got[0].atMs - sentAt} ms`);
  } finally {
    await advertiser.stop();
    await client.close();
  }
});

test('re-announces every notify interval, below max-age / 2', async () => {
  const listener = await Peer.open('127.0.0.1', true);
  const advertiser = new SsdpAdvertiser(
    options({ multicastPort: listener.port, announceRepeats: 1, maxAgeSeconds: 1, notifyIntervalMs: 150 }), { random: () => 0 },
  );
  try {
    await advertiser.start();
    const got = await listener.waitFor(40, 10_000);
    assert.ok(got.length >= 40, `${got.length} NOTIFYs`);
    const rootTimes = got.filter((r) => r.headers.get('nt') === 'upnp:rootdevice').map((r) => r.atMs);
    for (let i = 1; i < rootTimes.length; i++) {
      const gap = rootTimes[i] - rootTimes[i - 1];
      assert.ok(gap >= 100 && gap < 500, `interval ${gap} ms (jittered 120..150)`);
    }
    assert.equal(got[0].headers.get('cache-control'), 'max-age=1');
  } finally {
    await advertiser.stop();
    await listener.close();
  }
});

test('stop: ssdp:byebye for every advertisement, then silence', async () => {
  const listener = await Peer.open('127.0.0.1', true);
  const client = await Peer.open('127.0.0.1');
  const advertiser = new SsdpAdvertiser(options({ multicastPort: listener.port, announceRepeats: 3, announceSpacingMs: 200 }));
  try {
    await advertiser.start();
    const port = advertiser.address().port;
    await listener.waitFor(10, 10_000);
    await advertiser.stop();
    const byes = (await listener.waitFor(20, 10_000)).filter((r) => r.headers.get('nts') === 'ssdp:byebye');
    assert.deepEqual(byes.map((r) => r.headers.get('usn')).sort(), advertiser.advertised().map((a) => a.usn).sort());
    for (const r of byes) {
      assert.equal(r.headers.has('location'), false);
      assert.equal(r.headers.get('bootid.upnp.org'), '5');
    }
    const count = listener.received.length;
    await client.send(search('ssdp:all'), port);
    await sleep(500);
    assert.equal(listener.received.length, count, 'no alive repeat after stop');
    assert.equal(client.received.length, 0, 'no answer after stop');
    await advertiser.stop();
  } finally {
    await advertiser.stop();
    await Promise.all([listener.close(), client.close()]);
  }
});

test('the answer rate is bounded by a token bucket; the excess is counted', async () => {
  const client = await Peer.open('127.0.0.1');
  let nowMs = 0;
  const advertiser = new SsdpAdvertiser(
    options({ multicastPort: client.port, announceRepeats: 1, responseRate: { perSecond: 2, burst: 3 } }),
    { random: () => 0, monotonicMs: () => nowMs },
  );
  try {
    await advertiser.start();
    const port = advertiser.address().port;
    const from = client.received.length;
    await client.send(search('ssdp:all'), port);
    await until(() => advertiser.counters().responsesRateLimited === 7, 10_000);
    await sleep(50);
    assert.equal((await client.waitFor(3, 10_000, from)).filter((r) => r.startLine.startsWith('HTTP')).length, 3);
    assert.equal(advertiser.counters().responsesRateLimited, 7);
    nowMs += 1000;
    await client.send(search('ssdp:all'), port);
    assert.ok(await until(() => advertiser.counters().responsesRateLimited === 15, 10_000));
    assert.equal(advertiser.counters().responsesSent, 5, '3 from the burst, 2 refilled in one second');
  } finally {
    await advertiser.stop();
    await client.close();
  }
});

test('options that cannot work are refused with SsdpConfigError naming the field', () => {
  const bad: [Partial<SsdpAdvertiserOptions>, string][] = [
    [{ lanAddress: '256.1.1.1' }, 'lanAddress'],
    [{ lanAddress: 'lan0' }, 'lanAddress'],
    [{ lanPrefixLength: 33 }, 'lanPrefixLength'],
    [{ devices: [] }, 'devices'],
    [{ maxAgeSeconds: 1800, notifyIntervalMs: 900_000 }, 'notifyIntervalMs'],
    [{ notifyIntervalMs: 0 }, 'notifyIntervalMs'],
    [{ port: 70000 }, 'port'],
    [{ bootId: -1 }, 'bootId'],
    [{ location: 'http://x/\r\nEVIL: 1' }, 'location'],
    [{ responseRate: { perSecond: 0, burst: 1 } }, 'responseRate'],
  ];
  for (const [over, field] of bad) {
    assert.throws(() => new SsdpAdvertiser(options(over)), (e: unknown) => e instanceof SsdpConfigError && e.field === field, field);
  }
});

test('a LAN address this host does not have: start rejects with SsdpSocketError', async () => {
  const advertiser = new SsdpAdvertiser(options({ lanAddress: '192.0.2.77', lanPrefixLength: 24 }));
  await assert.rejects(advertiser.start(), SsdpSocketError);
  await advertiser.stop();
});

// ---- two-homed gateway in network namespaces -------------------------------------------

interface ChildEvent {
  readonly event: string;
  readonly from?: string;
  readonly text?: string;
  readonly counters?: Record<string, unknown>;
}

/** A node child inside a namespace, speaking JSON lines: commands on stdin, events on stdout. */
class NsChild {
  readonly events: ChildEvent[] = [];
  private readonly child: ReturnType<typeof spawn>;
  private stderr = '';

  constructor(namespace: string, source: string) {
    this.child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--input-type=module', '-e', source], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line) this.events.push(JSON.parse(line) as ChildEvent);
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
  }

  command(value: unknown): void {
    this.child.stdin!.write(JSON.stringify(value) + '\n');
  }

  async waitFor(predicate: (e: ChildEvent) => boolean, timeoutMs: number): Promise<ChildEvent> {
    const ok = await until(() => this.events.some(predicate), timeoutMs);
    assert.ok(ok, `child event not seen within ${timeoutMs} ms; stderr: ${this.stderr}`);
    return this.events.find(predicate)!;
  }

  messages(): ChildEvent[] {
    return this.events.filter((e) => e.event === 'message');
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) {
      process.kill(this.child.pid, 'SIGKILL');
    }
  }
}

/** A LAN or WAN host: a socket on 0.0.0.0:1900 joined to the SSDP group on its own address. */
function peerSource(address: string): string {
  return `
import dgram from 'node:dgram';
import readline from 'node:readline';
setTimeout(() => process.exit(2), 30000).unref();
const out = (v) => process.stdout.write(JSON.stringify(v) + '\\n');
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => out({ event: 'message', from: r.address, text: m.toString() }));
s.bind(1900, '0.0.0.0', () => {
  s.addMembership('239.255.255.250', ${JSON.stringify(address)});
  s.setMulticastInterface(${JSON.stringify(address)});
  out({ event: 'ready' });
});
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  if (c.send) s.send(c.send.text, c.send.port, c.send.address, () => out({ event: 'sent' }));
});
`;
}

function advertiserSource(lanAddress: string): string {
  const url = new URL('./ssdp.js', import.meta.url).href;
  return `
import { SsdpAdvertiser } from ${JSON.stringify(url)};
import readline from 'node:readline';
setTimeout(() => process.exit(2), 30000).unref();
const out = (v) => process.stdout.write(JSON.stringify(v) + '\\n');
const a = new SsdpAdvertiser({ lanAddress: ${JSON.stringify(lanAddress)}, lanPrefixLength: 24,
  location: 'http://${lanAddress}:5000/rootDesc.xml', devices: ${JSON.stringify(DEVICES)}, server: ${JSON.stringify(SERVER)},
  bootId: 1, configId: 1, announceRepeats: 2, announceSpacingMs: 50 }, { random: () => 0 });
await a.start();
out({ event: 'ready' });
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  if (JSON.parse(line).counters) {
    out({ event: 'counters', counters: a.counters() });
    return;
  }
  await a.stop();
  out({ event: 'stopped', counters: a.counters() });
  process.exit(0);
});
`;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

test('two-homed gateway in namespaces: NOTIFYs leave by the LAN only, the WAN side gets no answer', async (t) => {
  if (process.getuid?.() !== 0 || spawnSync('ip', ['netns', 'list']).status !== 0) {
    t.skip('needs root and iproute2');
    return;
  }
  const prefix = `oi-ssdpt-${process.pid}`;
  const [gw, lan, wan] = ['g', 'l', 'w'].map((s) => `${prefix}-${s}`);
  const children: NsChild[] = [];
  try {
    for (const ns of [gw, lan, wan]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('link', 'add', 'name', 'lan0', 'netns', gw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan);
    ip('link', 'add', 'name', 'wan0', 'netns', gw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', wan);
    for (const [ns, dev, addr] of [[gw, 'lan0', '10.77.1.1/24'], [lan, 'eth0', '10.77.1.2/24'], [gw, 'wan0', '10.77.2.1/24'], [wan, 'eth0', '10.77.2.2/24']]) {
      ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    // Like a real gateway: the default route (and so any unpinned multicast) points at the WAN.
    ip('-n', gw, 'route', 'add', 'default', 'via', '10.77.2.2');

    const lanHost = new NsChild(lan, peerSource('10.77.1.2'));
    const wanHost = new NsChild(wan, peerSource('10.77.2.2'));
    children.push(lanHost, wanHost);
    await lanHost.waitFor((e) => e.event === 'ready', 5000);
    await wanHost.waitFor((e) => e.event === 'ready', 5000);
    const gateway = new NsChild(gw, advertiserSource('10.77.1.1'));
    children.push(gateway);
    await gateway.waitFor((e) => e.event === 'ready', 5000);

    const alive = (e: ChildEvent): boolean => e.from === '10.77.1.1' && /NTS: ssdp:alive/.test(e.text ?? '');
    // The waits below are bounds for a loaded machine: each ends as soon as its event is seen.
    assert.ok(await until(() => lanHost.messages().filter(alive).length >= 20, 10_000), 'LAN host hears the alive set twice');

    const searchFrom = (host: NsChild, text: string, address: string): void => host.command({ send: { text, port: 1900, address } });
    searchFrom(lanHost, formatSsdpSearch({ st: 'upnp:rootdevice', mx: 1 }), SSDP_MULTICAST_ADDRESS);
    searchFrom(wanHost, formatSsdpSearch({ st: 'upnp:rootdevice', mx: 1 }), SSDP_MULTICAST_ADDRESS);
    searchFrom(wanHost, formatSsdpSearch({ st: 'ssdp:all', host: '10.77.2.1:1900' }), '10.77.2.1');
    await lanHost.waitFor((e) => e.from === '10.77.1.1' && /^HTTP\/1\.1 200 OK/.test(e.text ?? ''), 10_000);
    // The WAN host's unicast search must have reached the gateway before it stops: ask its
    // counters until the search shows (the sending child may run late on a loaded machine).
    const outsideLan = (e: ChildEvent): number => (e.counters as { outsideLan: number } | undefined)?.outsideLan ?? 0;
    let searchSeen = false;
    for (let i = 0; i < 50 && !searchSeen; i++) {
      gateway.command({ counters: true });
      searchSeen = await until(() => gateway.events.some((e) => e.event === 'counters' && outsideLan(e) >= 1), 200);
    }
    assert.ok(searchSeen, 'the gateway saw the WAN host\'s unicast search');

    gateway.command({ stop: true });
    const stopped = await gateway.waitFor((e) => e.event === 'stopped', 10_000);
    assert.ok(await until(() => lanHost.messages().some((e) => /NTS: ssdp:byebye/.test(e.text ?? '')), 10_000), 'LAN host hears byebye');
    await sleep(200);
    const fromGateway = wanHost.messages().filter((e) => e.from === '10.77.2.1' || e.from === '10.77.1.1');
    assert.deepEqual(fromGateway, [], 'nothing from the gateway reaches the WAN side');
    assert.equal((stopped.counters as { outsideLan: number }).outsideLan, 1, 'the unicast search from the WAN was seen and ignored');
  } finally {
    for (const c of children) c.kill();
    for (const ns of [gw, lan, wan]) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  }
});

test('ssdpServerString: OS/version UPnP/1.1 OpenIGD/version, one token per part', () => {
  assert.equal(ssdpServerString('0.1', 'Linux', '6.1.0-18-amd64'), 'Linux/6.1.0-18-amd64 UPnP/1.1 OpenIGD/0.1');
  assert.equal(ssdpServerString('0.2', 'My OS', '1/2'), 'My-OS/1-2 UPnP/1.1 OpenIGD/0.2');
  assert.match(ssdpServerString(), /^[^\s/]+\/[^\s/]+ UPnP\/1\.1 OpenIGD\/0\.1$/);
});
