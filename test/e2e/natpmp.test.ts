/**
 * Issue 10, NAT-PMP (RFC 6886) in the lab with Debian's `natpmpc` (libnatpmp) in a LAN host:
 *  - `natpmpc -g` prints the external address; `-a` maps TCP and UDP, and a connection from
 *    the internet namespace reaches the LAN host through the mapping; lifetime 0 removes it;
 *    `upnpc -l` and the admin API list what natpmpc made, with the protocol that made it;
 *  - one table: a port held through NAT-PMP is refused to UPnP (718) and a port held
 *    through UPnP makes NAT-PMP assign another one;
 *  - the announcement to 224.0.0.1:5350 is seen in a LAN host at start and after `POST /wan`
 *    changes the address, with the new address and a reset epoch;
 *  - mappings made through UPnP and NAT-PMP at once survive SIGTERM, kill -9 and an
 *    external address change, and forward afterwards;
 *  - tshark's NAT-PMP dissector reads every NAT-PMP packet the gateway's LAN capture holds
 *    (the garbage, sent from its own port, aside) without a malformed-packet warning; the
 *    PCP ANNOUNCE that follows each announcement is left to pcp.test.ts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, labRestartDaemon, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';
import { admin } from '../lib/admin.js';
import { announcementsDuring, probeMapping, type ProbeOptions } from '../lib/lab-probe.js';

const DIR = '/run/openigd-lab';
const TOOLS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'e2e', 'tools');
const NATPMP_BURST = join(TOOLS, 'natpmp-burst.py');
const GW = '192.168.1.1';
/** The source port of the garbage datagrams, so that tshark's check can leave them aside. */
const GARBAGE_PORT = 45351;
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

interface NatPmpCounters { results: number[]; drops: Record<string, number>; pcp: number }
interface PcpCounters { requests: number; drops: Record<string, number> }
interface Counted { natpmp: NatPmpCounters; pcp: PcpCounters }

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

interface Mapping { protocol: string; externalPort: number; internalClient: string; internalPort: number; origin: string; description: string }

/** One announcement line of natpmp-announce-listen.py, its payload parsed as RFC 6886 §3.2's response. */
interface Announcement { atMs: number; from: string; op: number; result: number; epoch: number; address: string }

/** The NAT-PMP (version 0) announcements; PCP's ANNOUNCE (version 2) follows each of them and is pcp.test.ts's. */
function announcements(output: string): Announcement[] {
  return [...output.matchAll(/^announce (\d+) (\S+) (00[0-9a-f]+)$/gm)].map((m) => {
    const b = Buffer.from(m[3]!, 'hex');
    return {
      atMs: Number(m[1]), from: m[2]!, op: b[1]!, result: b.readUInt16BE(2), epoch: b.readUInt32BE(4),
      address: b.length >= 12 ? [...b.subarray(8, 12)].join('.') : '',
    };
  });
}

describe('NAT-PMP with natpmpc: external address, mappings, announcements, one table, persistence (B2)', { skip }, () => {
  const cleanup = new Cleanup();
  let lab: LabRecord;
  let h1Addr = '';
  let h2Addr = '';
  let capDir = '';
  after(() => cleanup.run());
  before(async () => {
    const prefix = uniquePrefix('p');
    capDir = join(DIR, `${prefix}-pcap`);
    cleanup.add(() => sh(null, 'rm', ['-rf', capDir]));
    cleanup.add(() => labDown(prefix, DIR));
    // The garbage burst below counts every datagram in the engine: natpmp.requestRate (a
    // flood guard, faults-flood.test.ts) is lifted so that none stops before it.
    lab = await labUp({ prefix, dir: DIR, extraConfig: `capture: { dir: ${capDir} }\nnatpmp: { requestRate: { perSecond: 100000, burst: 100000 } }` });
    h1Addr = lab.hostAddresses.h1!;
    h2Addr = lab.hostAddresses.h2!;
  });

  const natpmpc = (ns: string, ...args: string[]) => sh(ns, 'natpmpc', ['-g', GW, ...args], 30_000);
  const upnpc = (...args: string[]) => must(lab.namespaces.h1, 'upnpc', ['-i', ...args], 30_000);
  const mappings = async (): Promise<Mapping[]> => (await admin(lab.adminSocket, 'GET', '/mappings')).json as Mapping[];

  const probe = (proto: 'tcp' | 'udp', externalAddr: string, externalPort: number, internalPort: number, opts: ProbeOptions) =>
    probeMapping(lab, cleanup, proto, externalAddr, externalPort, internalPort, opts);

  const listenForAnnouncements = async (during: () => Promise<void>, done: (a: Announcement[]) => boolean): Promise<Announcement[]> =>
    announcements(await announcementsDuring(lab.namespaces.h1, h1Addr, cleanup, during, (out) => done(announcements(out))));

  test('natpmpc -g prints the external address', async () => {
    const r = await natpmpc(lab.namespaces.h1);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Public IP address : 203\.0\.113\.2/);
  });

  test('natpmpc -a maps TCP and UDP; the internet reaches h1 through them; upnpc -l and /mappings list them', async () => {
    const tcp = await natpmpc(lab.namespaces.h1, '-a', '18080', '8080', 'tcp', '3600');
    assert.equal(tcp.code, 0, tcp.stdout + tcp.stderr);
    assert.match(tcp.stdout, /Mapped public port 18080 protocol TCP to local port 8080 lif(e)?time 3600/);
    const udp = await natpmpc(lab.namespaces.h1, '-a', '19090', '9090', 'udp', '3600');
    assert.match(udp.stdout, /Mapped public port 19090 protocol UDP to local port 9090 lif(e)?time 3600/);
    await probe('tcp', lab.wanAddress, 18080, 8080, { expect: true });
    await probe('udp', lab.wanAddress, 19090, 9090, { expect: true });

    const listed = await upnpc('-l');
    assert.match(listed, new RegExp(`TCP\\s+18080->${h1Addr.replace(/\./g, '\\.')}:8080\\s+'NAT-PMP 8080 tcp'`), listed);
    assert.match(listed, new RegExp(`UDP\\s+19090->${h1Addr.replace(/\./g, '\\.')}:9090\\s+'NAT-PMP 9090 udp'`), listed);
    const held = (await mappings()).filter((m) => m.origin === 'natpmp');
    assert.deepEqual(held.map((m) => `${m.protocol} ${m.externalPort}->${m.internalClient}:${m.internalPort}`).sort(),
      [`TCP 18080->${h1Addr}:8080`, `UDP 19090->${h1Addr}:9090`]);
  });

  test('one table: UPnP is refused a NAT-PMP port (718); NAT-PMP gets another port where UPnP holds one', async () => {
    const refused = await sh(lab.namespaces.h1, 'upnpc', ['-i', '-a', h1Addr, '8080', '18080', 'TCP'], 30_000);
    assert.match(refused.stdout + refused.stderr, /718/, refused.stdout + refused.stderr);
    assert.match(await upnpc('-e', 'upnp game', '-a', h1Addr, '7777', '17777', 'UDP'), /external 203\.0\.113\.2:17777 UDP is redirected/);
    const moved = await natpmpc(lab.namespaces.h2, '-a', '17777', '7777', 'udp', '600');
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    const port = Number(/Mapped public port (\d+) protocol UDP to local port 7777/.exec(moved.stdout)?.[1]);
    assert.ok(port > 0 && port !== 17777, moved.stdout);
    const all = await mappings();
    assert.equal(all.find((m) => m.externalPort === 17777 && m.protocol === 'UDP')?.origin, 'upnp');
    assert.equal(all.find((m) => m.externalPort === port && m.protocol === 'UDP')?.internalClient, h2Addr);
    await probe('udp', lab.wanAddress, port, 7777, { expect: true, listenNs: lab.namespaces.h2 });
  });

  test('lifetime 0 removes a mapping: no longer listed, no longer forwarding', async () => {
    await natpmpc(lab.namespaces.h1, '-a', '18181', '8181', 'tcp', '3600');
    assert.ok((await mappings()).some((m) => m.externalPort === 18181));
    const r = await natpmpc(lab.namespaces.h1, '-a', '18181', '8181', 'tcp', '0');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(!(await mappings()).some((m) => m.externalPort === 18181));
    assert.doesNotMatch(await upnpc('-l'), /18181->/);
    await probe('tcp', lab.wanAddress, 18181, 8181, { expect: false, source: lab.servers[1]! });
  });

  test('garbage to 5351 (random, truncated, oversized, other versions): answered or counted as drops, the server stays up', async () => {
    const counted = async (): Promise<Counted> => ((await admin(lab.adminSocket, 'GET', '/status')).json as { igd: Counted }).igd;
    const before = await counted();
    // 3000 datagrams of 0–1200 random bytes, a third starting with version 0 and a low opcode.
    const script = [
      'import os, random, socket, time',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      `s.bind(("0.0.0.0", ${GARBAGE_PORT}))`,
      'random.seed(6886)',
      'for i in range(3000):',
      '    d = bytearray(os.urandom(random.choice([0, 1, 2, 3, 11, 12, 13, 16, 24, 60, 1100, 1200])))',
      '    if i % 3 == 0 and len(d) >= 2: d[0] = 0; d[1] = random.choice([0, 1, 2, 3, 127, 128, 200])',
      '    s.sendto(bytes(d), ("192.168.1.1", 5351))',
      '    time.sleep(0.0005)',
    ].join('\n');
    await must(lab.namespaces.h2, 'python3', ['-c', script]);
    // Every datagram is answered (its result counted) or dropped (its reason counted), by
    // NAT-PMP or, for version 2, by PCP.
    const seen = (c: Counted) => sum(c.natpmp.results) + sum(Object.values(c.natpmp.drops)) + c.pcp.requests + sum(Object.values(c.pcp.drops));
    let last = before;
    const after = await until('the datagrams counted', async () => {
      last = await counted();
      return seen(last) - seen(before) >= 3000 ? last.natpmp : null;
    }, 15_000, 200).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${seen(last) - seen(before)} of 3000 counted: ${JSON.stringify(last)}`);
    });
    assert.ok(after.drops.short > before.natpmp.drops.short && after.drops.oversized > before.natpmp.drops.oversized, JSON.stringify(after));
    assert.ok(after.results[1]! > before.natpmp.results[1]!, 'other versions answered Unsupported Version');
    const r = await natpmpc(lab.namespaces.h1);
    assert.match(r.stdout, /Public IP address : 203\.0\.113\.2/);
  });

  test('the announcement reaches the LAN at start: 224.0.0.1:5350 from 192.168.1.1:5351, the address, epoch from 0', async () => {
    const seen = await listenForAnnouncements(async () => {
      lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
    }, (a) => a.length >= 3);
    assert.ok(seen.every((a) => a.from === `${GW}:5351` && a.op === 128 && a.result === 0 && a.address === '203.0.113.2'), JSON.stringify(seen));
    assert.ok(seen[0]!.epoch <= 1, `epoch ${seen[0]!.epoch}`);
    // The schedule: 250 ms, then 500 ms between the first three.
    assert.ok(seen[1]!.atMs - seen[0]!.atMs >= 200 && seen[2]!.atMs - seen[1]!.atMs >= 450, JSON.stringify(seen));
    // Mappings of both protocols came through the SIGTERM restart and forward.
    await probe('tcp', lab.wanAddress, 18080, 8080, { expect: true });
    await probe('udp', lab.wanAddress, 17777, 7777, { expect: true });
  });

  test('kill -9 in the middle of a NAT-PMP burst: every granted mapping, and the UPnP one, are there after the restart', async () => {
    const burst = background(lab.namespaces.h1, 'python3', [NATPMP_BURST, GW, '30000', '3000', '3600']);
    cleanup.add(() => burst.stop());
    const granted = () => [...burst.output().matchAll(/^ok (\d+) (\d+)$/gm)].map((m) => `${m[1]}->${m[2]}`);
    await until('200 mappings granted', async () => granted().length >= 200, 30_000, 20);
    process.kill(lab.daemonPid, 'SIGKILL');
    // What was printed before the kill is what was answered; the rest get no answer.
    await burst.stop();
    const answered = granted();
    assert.ok(answered.length < 3000, 'the kill landed before the burst ended');
    lab = await labRestartDaemon(lab.prefix, DIR, 'SIGKILL');
    const all = await mappings();
    const held = new Set(all.filter((m) => m.origin === 'natpmp' && m.protocol === 'UDP').map((m) => `${m.internalPort}->${m.externalPort}`));
    const missing = answered.filter((a) => !held.has(a));
    assert.deepEqual(missing, [], `${missing.length} of ${answered.length} granted mappings are missing after kill -9`);
    for (const [proto, port, origin] of [['TCP', 18080, 'natpmp'], ['UDP', 19090, 'natpmp'], ['UDP', 17777, 'upnp']] as const) {
      assert.equal(all.find((m) => m.protocol === proto && m.externalPort === port)?.origin, origin, `${proto} ${port}`);
    }
    console.log(`# kill -9 after ${answered.length} granted NAT-PMP mappings; none missing after the restart`);
    await probe('udp', lab.wanAddress, 19090, 9090, { expect: true });
  });

  test('POST /wan: the announcement carries the new address and a reset epoch; every mapping forwards on it', async () => {
    // Let the epoch grow past 0 first, so that the reset is visible.
    await until('the epoch to pass 2 s', async () => {
      const r = await natpmpc(lab.namespaces.h1);
      return /epoch = ([3-9]|\d{2,})/.test(r.stdout) || null;
    }, 20_000, 500).catch(() => undefined);
    const seen = await listenForAnnouncements(async () => {
      const r = await admin(lab.adminSocket, 'POST', '/wan', { address: '203.0.113.7/24', gateway: lab.wanGateway });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }, (a) => a.some((x) => x.address === '203.0.113.7'));
    const fresh = seen.filter((a) => a.address === '203.0.113.7');
    assert.ok(fresh[0]!.epoch <= 1, `epoch after the change: ${fresh[0]!.epoch}`);
    const r = await natpmpc(lab.namespaces.h1);
    assert.match(r.stdout, /Public IP address : 203\.0\.113\.7/);
    await probe('tcp', '203.0.113.7', 18080, 8080, { expect: true });
    await probe('udp', '203.0.113.7', 17777, 7777, { expect: true });
    // A NAT-PMP renewal suggesting the granted port keeps it.
    const renew = await natpmpc(lab.namespaces.h1, '-a', '18080', '8080', 'tcp', '3600');
    assert.match(renew.stdout, /Mapped public port 18080 protocol TCP to local port 8080/);
  });

  test('tshark decodes every NAT-PMP packet on the LAN (requests, answers, announcements), none malformed', async () => {
    const files = (await readdir(capDir)).filter((f) => f.startsWith('lan-') && f.endsWith('.pcap'));
    assert.ok(files.length >= 3, `a LAN capture per daemon run: ${files.join(', ')}`);
    const ours = `(udp.port == 5351 || udp.port == 5350) && !(udp.port == ${GARBAGE_PORT})`;
    // PCP's packets (the ANNOUNCE after each announcement) are pcp.test.ts's to check.
    const natPmpOnly = `${ours} && nat-pmp`;
    let packets = 0;
    const ops = new Set<string>();
    for (const f of files) {
      const path = join(capDir, f);
      const malformed = await must(null, 'tshark', ['-n', '-r', path, '-Y', `${ours} && (_ws.malformed || _ws.expert.severity >= "warning")`], 60_000);
      assert.equal(malformed.trim(), '', `${f}: tshark warns about NAT-PMP packets`);
      const rows = (await must(null, 'tshark', ['-n', '-r', path, '-Y', natPmpOnly, '-T', 'fields', '-e', 'nat-pmp.version', '-e', 'nat-pmp.opcode'], 60_000))
        .trim().split('\n').filter(Boolean);
      for (const row of rows) {
        const [version, op] = row.split('\t');
        assert.equal(version, '0', `${f}: a NAT-PMP packet: ${row}`);
        ops.add(op!);
      }
      packets += rows.length;
    }
    // Requests 0–2, answers 128–130 (announcements are op 128 too).
    assert.deepEqual([...ops].map(Number).sort((a, b) => a - b), [0, 1, 2, 128, 129, 130]);
    console.log(`# tshark read ${packets} NAT-PMP packets in ${files.length} LAN captures, none malformed`);
  });
});
