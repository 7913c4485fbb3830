import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { NatTable, VERDICT, IP_PROTOCOL, type NatPortMapping, type FlowInfo } from './nat-table.js';
import { resolveNatConfig, type NatConfigInput } from './config.js';

const ip = (s: string): number => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
const EXT = ip('203.0.113.2');
const EXT2 = ip('203.0.113.7');
const H1 = ip('192.168.1.100');
const H2 = ip('192.168.1.101');
const H3 = ip('192.168.1.102');
const BCAST = ip('192.168.1.255');
const S1 = ip('198.51.100.10');
const S2 = ip('198.51.100.11');
const { tcp: TCP, udp: UDP, icmp: ICMP } = IP_PROTOCOL;
const FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10;
const UDP_MS = 300_000, ICMP_MS = 60_000, EST_MS = 7_440_000, TRANS_MS = 240_000;

/** A seeded PRNG so random allocation is reproducible. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

function table(input: NatConfigInput = {}): NatTable {
  const r = resolveNatConfig({ random: seeded(1), ...input });
  assert.ok(r.ok, JSON.stringify(r));
  const t = new NatTable(r.config);
  t.setExternalAddress(EXT);
  return t;
}

/** Outbound; returns the external port (asserting forward from the external address). */
function out(t: NatTable, proto: number, src: number, sport: number, dst: number, dport: number, now = 0, flags = 0): number {
  const v = t.outbound(proto, src, sport, dst, dport, flags, now);
  assert.equal(v, VERDICT.forward, `outbound dropped: ${t.result.reason}`);
  assert.equal(t.result.addr, t.externalAddress);
  return t.result.port;
}

/** Inbound; returns 'internalAddr:port' or the drop reason. */
function inn(t: NatTable, proto: number, src: number, sport: number, dport: number, now = 0, flags = 0): string {
  const v = t.inbound(proto, src, sport, dport, flags, now);
  return v === VERDICT.forward ? `${t.result.addr}:${t.result.port}` : t.result.reason;
}

/** Outbound that must drop; returns the reason. */
function outDrop(t: NatTable, proto: number, src: number, sport: number, dst: number, dport: number, now = 0): string {
  assert.equal(t.outbound(proto, src, sport, dst, dport, 0, now), VERDICT.drop);
  return t.result.reason;
}

const flowKey = (f: FlowInfo): string => `${f.protocol}:${f.internalAddr}:${f.internalPort}:${f.remoteAddr}:${f.remotePort}`;
/** `t.expire(now)`, and the flows it removed (what was live before and is not after). */
const expired = (t: NatTable, now: number): FlowInfo[] => {
  const before = t.snapshot();
  const n = t.expire(now);
  const after = new Set(t.snapshot().map(flowKey));
  const gone = before.filter((f) => !after.has(flowKey(f)));
  assert.equal(gone.length, n, 'expire() counts what it removed');
  return gone;
};
const only = (t: NatTable) => {
  const s = t.snapshot();
  assert.equal(s.length, 1);
  return s[0]!;
};

describe('mapping behaviour (RFC 4787 §4.1): the external port a second destination gets', () => {
  test('endpoint-independent: every destination sees the same external port', () => {
    const t = table({ mapping: 'endpoint-independent' });
    const p1 = out(t, UDP, H1, 5000, S1, 3478);
    assert.equal(out(t, UDP, H1, 5000, S1, 3479), p1);
    assert.equal(out(t, UDP, H1, 5000, S2, 3478), p1);
    assert.equal(t.size, 3);
  });
  test('address-dependent: a new port per destination address, shared across its ports', () => {
    const t = table({ mapping: 'address-dependent' });
    const p1 = out(t, UDP, H1, 5000, S1, 3478);
    assert.equal(out(t, UDP, H1, 5000, S1, 3479), p1);
    const p2 = out(t, UDP, H1, 5000, S2, 3478);
    assert.notEqual(p2, p1);
    assert.equal(out(t, UDP, H1, 5000, S2, 1), p2);
  });
  test('address-and-port-dependent: a new port per destination endpoint, kept by each flow', () => {
    const t = table({ mapping: 'address-and-port-dependent' });
    const a = out(t, UDP, H1, 5000, S1, 3478), b = out(t, UDP, H1, 5000, S1, 3479), c = out(t, UDP, H1, 5000, S2, 3478);
    assert.equal(new Set([a, b, c]).size, 3);
    assert.equal(out(t, UDP, H1, 5000, S1, 3479), b);
    assert.equal(out(t, UDP, H1, 5000, S1, 3478), a);
  });
  test('the binding lives while any flow uses it, then its port is free again', () => {
    const t = table({ mapping: 'endpoint-independent', portAllocation: 'preserve' });
    assert.equal(out(t, UDP, H1, 5000, S1, 1, 0), 5000);
    assert.equal(out(t, UDP, H1, 5000, S2, 1, 100_000), 5000);
    assert.equal(t.expire(UDP_MS), 1);
    assert.deepEqual(t.snapshot().map((f) => [f.internalAddr, f.internalPort, f.remoteAddr, f.remotePort, f.externalAddr, f.externalPort, f.protocol]),
      [[H1, 5000, S2, 1, EXT, 5000, UDP]], 'the flow to S1 went; the one to S2 (refreshed at 100 s) stays');
    assert.equal(out(t, UDP, H2, 5000, S1, 1, UDP_MS), 5001, 'still owned by H1:5000 through its other flow');
    assert.equal(inn(t, UDP, S2, 1, 5000, UDP_MS), `${H1}:5000`);
    assert.equal(t.expire(100_000 + UDP_MS), 0, 'the inbound packet refreshed it');
    assert.equal(t.expire(2 * UDP_MS), 2);
    assert.equal(t.size, 0);
    assert.equal(out(t, UDP, H3, 5000, S1, 1, 2 * UDP_MS), 5000, 'freed with the last flow');
  });
});

describe('filtering behaviour (RFC 4787 §5): which remote endpoints get in', () => {
  function setup(filtering: NatConfigInput['filtering']) {
    const t = table({ filtering });
    return { t, p: out(t, UDP, H1, 5000, S1, 3478) };
  }
  test('endpoint-independent: anyone may send to the mapped port', () => {
    const { t, p } = setup('endpoint-independent');
    assert.equal(inn(t, UDP, S1, 3478, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S1, 9999, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S2, 9999, p), `${H1}:5000`);
    assert.equal(t.counters.drops.filtered, 0);
  });
  test('address-dependent: only addresses the host sent to, from any of their ports', () => {
    const { t, p } = setup('address-dependent');
    assert.equal(inn(t, UDP, S1, 3478, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S1, 9999, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S2, 3478, p), 'filtered');
    out(t, UDP, H1, 5000, S2, 1);
    assert.equal(inn(t, UDP, S2, 3478, p), `${H1}:5000`);
  });
  test('address-and-port-dependent: only the exact endpoints the host sent to', () => {
    const { t, p } = setup('address-and-port-dependent');
    assert.equal(inn(t, UDP, S1, 3478, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S1, 9999, p), 'filtered');
    assert.equal(inn(t, UDP, S2, 3478, p), 'filtered');
    out(t, UDP, H1, 5000, S1, 9999);
    assert.equal(inn(t, UDP, S1, 9999, p), `${H1}:5000`);
    assert.equal(t.counters.drops.filtered, 2);
  });
  test('unsolicited traffic to an unused port is dropped and counted (N3)', () => {
    const t = table({ filtering: 'endpoint-independent' });
    assert.equal(inn(t, UDP, S1, 53, 40000), 'no-mapping');
    assert.equal(inn(t, TCP, S1, 80, 40000, 0, SYN), 'no-mapping');
    assert.equal(inn(t, ICMP, S1, 0, 7), 'no-mapping');
    assert.equal(t.counters.drops['no-mapping'], 3);
    assert.equal(t.size, 0, 'inbound never creates a flow');
  });
  test('protocols have separate ports', () => {
    const t = table({ filtering: 'endpoint-independent' });
    const p = out(t, UDP, H1, 5000, S1, 1);
    assert.equal(inn(t, TCP, S1, 1, p, 0, SYN), 'no-mapping');
  });
});

describe('port allocation', () => {
  test('preserve keeps the host port, else the next free one in the same class', () => {
    const t = table({ portAllocation: 'preserve' });
    assert.equal(out(t, UDP, H1, 5000, S1, 1), 5000);
    assert.equal(out(t, UDP, H2, 5000, S1, 1), 5001, 'port 5000 is taken: never overloaded');
    assert.equal(out(t, UDP, H3, 5000, S1, 1), 5002);
    assert.equal(out(t, UDP, H1, 123, S1, 123), 123);
    assert.equal(out(t, UDP, H2, 123, S1, 123), 124, 'below 1024 stays below');
    assert.equal(out(t, TCP, H2, 5000, S1, 80, 0, SYN), 5000, 'another protocol has its own ports');
    assert.equal(out(t, ICMP, H2, 0x1a2b, S1, 0), 0x1a2b, 'an ICMP identifier is preserved too');
    assert.equal(out(t, ICMP, H1, 0x1a2b, S1, 0), 0x1a2c);
  });
  test('preserve wraps inside the class and leaves it never', () => {
    const t = table({ portAllocation: 'preserve', portRange: { min: 40000, max: 40001 } });
    assert.equal(out(t, UDP, H1, 40001, S1, 1), 40001);
    assert.equal(out(t, UDP, H2, 40001, S1, 1), 40000, 'wrapped to the start of the range');
    assert.equal(outDrop(t, UDP, H3, 40001, S1, 1), 'ports-exhausted', 'no low port for a high one');
    const p = out(t, UDP, H3, 1023, S1, 1);
    assert.equal(p, 1023);
    assert.equal(out(t, UDP, H1, 1023, S1, 1), 1, 'wrapped inside 1-1023');
  });
  test('preserve of a port outside the configured range takes one inside it', () => {
    const t = table({ portAllocation: 'preserve', portRange: { min: 40000, max: 40009 } });
    const p = out(t, UDP, H1, 5000, S1, 1);
    assert.ok(p >= 40000 && p <= 40009, String(p));
  });
  test('sequential walks the range, skips ports in use or reserved, and wraps', () => {
    const t = table({ portAllocation: 'sequential', portRange: { min: 20000, max: 20004 } });
    assert.equal(t.addPortMapping({ protocol: 17, externalPort: 20002, remoteHost: 0, internalClient: H3, internalPort: 9, enabled: true }).ok, true);
    assert.deepEqual([1, 2, 3, 4].map((i) => out(t, UDP, H1, 40000 + i, S1, 1, 0)), [20000, 20001, 20003, 20004]);
    t.expire(UDP_MS);
    assert.deepEqual([5, 6].map((i) => out(t, UDP, H1, 40000 + i, S1, 1, UDP_MS)), [20000, 20001], 'wrapped around');
    // Low ports have their own cursor.
    assert.deepEqual([1, 2].map((i) => out(t, UDP, H1, 100 + i, S1, 1, UDP_MS)), [1, 2]);
  });
  test('random stays inside the range, never repeats a port in use, and follows the injected source', () => {
    const take = (seed: number) => {
      const t = table({ portAllocation: 'random', portRange: { min: 30000, max: 30999 }, random: seeded(seed) });
      return Array.from({ length: 200 }, (_, i) => out(t, UDP, H1, 10000 + i, S1, 1));
    };
    const a = take(3);
    assert.ok(a.every((p) => p >= 30000 && p <= 30999));
    assert.equal(new Set(a).size, 200, 'no port handed out twice');
    assert.deepEqual(take(3), a, 'same seed, same ports');
    assert.notDeepEqual(take(4), a);
    let ascending = 0;
    for (let i = 1; i < a.length; i++) if (a[i]! > a[i - 1]!) ascending++;
    assert.ok(ascending < 150, 'not sequential');
  });
  test('a random source that misbehaves does not break allocation', () => {
    for (const bad of [() => Number.NaN, () => 1, () => -3, () => Infinity]) {
      const t = table({ portAllocation: 'random', portRange: { min: 30000, max: 30002 }, random: bad });
      const ports = [1, 2, 3].map((i) => out(t, UDP, H1, 10000 + i, S1, 1));
      assert.deepEqual(ports.sort(), [30000, 30001, 30002]);
    }
  });
  test('port exhaustion drops cleanly (counted) and recovers when flows expire', () => {
    const t = table({ portAllocation: 'sequential', portRange: { min: 40000, max: 40002 } });
    for (let i = 0; i < 3; i++) out(t, UDP, H1, 50000 + i, S1, 1, 0);
    assert.equal(outDrop(t, UDP, H1, 50009, S1, 1), 'ports-exhausted');
    assert.equal(t.counters.drops['ports-exhausted'], 1);
    assert.equal(t.size, 3);
    for (let i = 0; i < 3; i++) assert.equal(inn(t, UDP, S1, 1, 40000 + i), `${H1}:${50000 + i}`);
    t.expire(UDP_MS);
    assert.equal(t.size, 0);
    assert.ok(out(t, UDP, H1, 50009, S1, 1, UDP_MS) >= 40000);
  });
  test('table full drops cleanly, never overwrites a live flow, and takes flows again after expiry', () => {
    const t = table({ capacity: 4 });
    for (let i = 0; i < 4; i++) out(t, UDP, H1, 6000 + i, S1, 1);
    assert.equal(outDrop(t, UDP, H1, 7000, S1, 1), 'table-full');
    assert.equal(outDrop(t, TCP, H2, 7000, S1, 1), 'table-full');
    assert.equal(t.counters.drops['table-full'], 2);
    for (let i = 0; i < 4; i++) assert.equal(inn(t, UDP, S1, 1, 6000 + i), `${H1}:${6000 + i}`);
    assert.equal(out(t, UDP, H1, 6000, S1, 1, 10), 6000, 'existing flows still pass');
    t.expire(UDP_MS);
    assert.equal(t.size, 1);
    assert.equal(out(t, UDP, H1, 7000, S1, 1, UDP_MS), 7000);
  });
  test('maxFlowsPerClient: one host is refused past its share, others are not; its flows pass; expiry gives the share back', () => {
    const t = table({ capacity: 16, maxFlowsPerClient: 3 });
    for (let i = 0; i < 3; i++) out(t, UDP, H1, 6000 + i, S1, 1);
    assert.equal(outDrop(t, UDP, H1, 6100, S1, 1), 'client-flow-limit');
    assert.equal(outDrop(t, TCP, H1, 6101, S1, 1), 'client-flow-limit');
    assert.deepEqual(t.openFlow(UDP, H1, 6102, S1, 1, 0, 1), { ok: false, reason: 'client-flow-limit' });
    assert.equal(t.counters.drops['client-flow-limit'], 2);
    assert.equal(out(t, UDP, H1, 6000, S1, 1, 10), 6000, 'its existing flows still pass');
    for (let i = 0; i < 3; i++) out(t, UDP, H2, 6000 + i, S1, 1);
    assert.equal(t.size, 6);
    t.expire(UDP_MS);
    assert.equal(t.size, 1, 'the flow refreshed at 10 ms is left');
    out(t, UDP, H1, 6100, S1, 1, UDP_MS);
    out(t, UDP, H1, 6101, S1, 1, UDP_MS);
    assert.equal(outDrop(t, UDP, H1, 6102, S1, 1, UDP_MS), 'client-flow-limit');
  });
});

describe('timeouts and TCP state (RFC 4787 REQ-5/6, RFC 5382 REQ-5, RFC 5508 REQ-1)', () => {
  test('UDP: 300 s after the last packet; outbound refreshes', () => {
    const t = table();
    const p = out(t, UDP, H1, 5000, S1, 53, 0);
    assert.equal(t.expire(UDP_MS - 1), 0);
    out(t, UDP, H1, 5000, S1, 53, 200_000);
    assert.equal(t.expire(200_000 + UDP_MS - 1), 0);
    assert.equal(t.expire(200_000 + UDP_MS), 1);
    assert.equal(inn(t, UDP, S1, 53, p, 200_000 + UDP_MS), 'no-mapping');
    assert.equal(t.counters.flowsExpired, 1);
  });
  test('UDP: inbound refreshes too (the MAY of REQ-6, taken)', () => {
    const t = table();
    const p = out(t, UDP, H1, 5000, S1, 53, 0);
    assert.equal(inn(t, UDP, S1, 53, p, 250_000), `${H1}:5000`);
    assert.equal(t.expire(250_000 + UDP_MS - 1), 0);
    assert.equal(t.expire(250_000 + UDP_MS), 1);
  });
  test('ICMP query: 60 s, by identifier', () => {
    const t = table();
    const id = out(t, ICMP, H1, 0x1a2b, S1, 0, 0);
    assert.equal(inn(t, ICMP, S1, 0, id, 1000), `${H1}:${0x1a2b}`);
    assert.equal(t.expire(1000 + ICMP_MS - 1), 0);
    assert.equal(t.expire(1000 + ICMP_MS), 1);
  });
  test('TCP: a lone SYN is transitory', () => {
    const t = table();
    out(t, TCP, H1, 40000, S1, 80, 0, SYN);
    assert.equal(only(t).tcpState, 'syn-sent');
    assert.equal(t.expire(TRANS_MS - 1), 0);
    assert.equal(t.expire(TRANS_MS), 1);
  });
  test('TCP: SYN both ways is established (2 h 4 min), refreshed by data', () => {
    const t = table();
    const p = out(t, TCP, H1, 40000, S1, 80, 0, SYN);
    assert.equal(inn(t, TCP, S1, 80, p, 10, SYN | ACK), `${H1}:40000`);
    assert.equal(only(t).tcpState, 'established');
    out(t, TCP, H1, 40000, S1, 80, 20, ACK);
    assert.equal(t.expire(20 + EST_MS - 1), 0);
    assert.equal(t.expire(20 + EST_MS), 1);
  });
  test('TCP: a FIN one way keeps the established timeout; FIN both ways is transitory', () => {
    const t = table();
    const p = out(t, TCP, H1, 40000, S1, 80, 0, SYN);
    inn(t, TCP, S1, 80, p, 1, SYN | ACK);
    out(t, TCP, H1, 40000, S1, 80, 20, FIN | ACK);
    assert.equal(only(t).tcpState, 'half-closed');
    assert.equal(only(t).expiresMs, 20 + EST_MS);
    assert.equal(inn(t, TCP, S1, 80, p, 30, FIN | ACK), `${H1}:40000`);
    assert.equal(only(t).tcpState, 'closing');
    assert.equal(t.expire(30 + TRANS_MS - 1), 0);
    assert.equal(t.expire(30 + TRANS_MS), 1);
  });
  test('TCP: RST is transitory; a new SYN on the tuple starts over', () => {
    const t = table();
    const p = out(t, TCP, H1, 40001, S1, 80, 0, SYN);
    inn(t, TCP, S1, 80, p, 1, SYN | ACK);
    out(t, TCP, H1, 40001, S1, 80, 2, ACK);
    assert.equal(only(t).expiresMs, 2 + EST_MS);
    assert.equal(inn(t, TCP, S1, 80, p, 3, RST), `${H1}:40001`);
    assert.equal(only(t).tcpState, 'reset');
    assert.equal(only(t).expiresMs, 3 + TRANS_MS);
    out(t, TCP, H1, 40001, S1, 80, 4, SYN);
    assert.equal(only(t).tcpState, 'syn-sent');
    assert.equal(t.expire(4 + TRANS_MS - 1), 0);
    assert.equal(t.expire(4 + TRANS_MS), 1);
  });
  test('TCP: a server behind a port mapping is established by its SYN-ACK', () => {
    const t = table();
    t.addPortMapping({ protocol: 6, externalPort: 8080, remoteHost: 0, internalClient: H1, internalPort: 80, enabled: true });
    assert.equal(inn(t, TCP, S1, 5555, 8080, 0, SYN), `${H1}:80`);
    assert.equal(out(t, TCP, H1, 80, S1, 5555, 1, SYN | ACK), 8080);
    assert.equal(only(t).tcpState, 'established');
    assert.equal(only(t).expiresMs, 1 + EST_MS);
  });
  test('configured timeouts are honoured', () => {
    const t = table({ timeouts: { udpMs: 30_000, icmpMs: 5_000, tcpTransitoryMs: 7_000 } });
    out(t, UDP, H1, 5000, S1, 53, 0);
    out(t, ICMP, H1, 1, S1, 0, 0);
    out(t, TCP, H1, 5000, S1, 80, 0, SYN);
    assert.equal(t.expire(4_999), 0);
    assert.equal(expired(t, 5_000)[0]!.protocol, ICMP);
    assert.equal(expired(t, 7_000)[0]!.protocol, TCP);
    assert.equal(t.expire(29_999), 0);
    assert.equal(expired(t, 30_000)[0]!.protocol, UDP);
  });
});

describe('hairpinning (RFC 4787 REQ-9)', () => {
  test('on: a LAN host reaches another through the external address, seen from the external address', () => {
    const t = table({ hairpinning: true, filtering: 'endpoint-independent' });
    const p2 = out(t, UDP, H2, 6000, S1, 3478);
    assert.equal(t.outbound(UDP, H1, 5000, EXT, p2, 0, 0), VERDICT.hairpin);
    const p1 = t.result.port;
    assert.equal(`${t.result.addr}:${p1}`, `${EXT}:5000`, 'new source: the external endpoint of H1');
    assert.equal(`${t.result.addr2}:${t.result.port2}`, `${H2}:6000`, 'new destination: H2');
    assert.equal(t.outbound(UDP, H2, 6000, EXT, p1, 0, 0), VERDICT.hairpin, 'and the reply goes back the same way');
    assert.equal(`${t.result.addr}:${t.result.port}`, `${EXT}:${p2}`);
    assert.equal(`${t.result.addr2}:${t.result.port2}`, `${H1}:5000`);
    assert.equal(t.counters.hairpinned, 2);
  });
  test('on: filtering applies to the hairpinned packet as to any inbound one', () => {
    const t = table({ hairpinning: true, filtering: 'address-dependent' });
    const p2 = out(t, UDP, H2, 6000, S1, 3478);
    assert.equal(t.outbound(UDP, H1, 5000, EXT, p2, 0, 0), VERDICT.drop);
    assert.equal(t.result.reason, 'filtered');
    // H1's attempt left a flow towards the external address, so H2 may now answer it ...
    assert.equal(t.outbound(UDP, H2, 6000, EXT, 5000, 0, 0), VERDICT.hairpin);
    // ... and H2's packet opened the way for H1.
    assert.equal(t.outbound(UDP, H1, 5000, EXT, p2, 0, 0), VERDICT.hairpin);
    assert.equal(`${t.result.addr2}:${t.result.port2}`, `${H2}:6000`);
  });
  test('on: a port mapping is reachable from the LAN through the external address', () => {
    const t = table({ hairpinning: true });
    t.addPortMapping({ protocol: 6, externalPort: 8080, remoteHost: 0, internalClient: H2, internalPort: 80, enabled: true });
    assert.equal(t.outbound(TCP, H1, 40000, EXT, 8080, SYN, 0), VERDICT.hairpin);
    assert.equal(`${t.result.addr}:${t.result.port}`, `${EXT}:40000`);
    assert.equal(`${t.result.addr2}:${t.result.port2}`, `${H2}:80`);
  });
  test('off: dropped with a reason, nothing created', () => {
    const t = table({ hairpinning: false });
    assert.equal(outDrop(t, UDP, H1, 5000, EXT, 6000), 'hairpin-disabled');
    assert.equal(t.counters.drops['hairpin-disabled'], 1);
    assert.equal(t.size, 0);
  });
});

describe('port mappings', () => {
  const base: NatPortMapping = { protocol: 6, externalPort: 8080, remoteHost: 0, internalClient: H1, internalPort: 80, enabled: true };
  test('wildcard remote host: anyone reaches the internal client; internal port may differ (U13)', () => {
    const t = table({ filtering: 'address-and-port-dependent' });
    assert.deepEqual(t.addPortMapping(base), { ok: true, replaced: false });
    assert.equal(inn(t, TCP, S1, 1234, 8080, 0, SYN), `${H1}:80`);
    assert.equal(inn(t, TCP, S2, 999, 8080, 0, SYN), `${H1}:80`);
    assert.equal(inn(t, UDP, S2, 999, 8080), 'no-mapping', 'protocol matters');
    assert.deepEqual(t.getPortMapping(6, 8080, 0), base);
    assert.equal(t.getPortMapping(17, 8080, 0), null);
  });
  test('a remote-host mapping lets only that host in; specific beats wildcard (U11)', () => {
    const t = table();
    t.addPortMapping({ ...base, remoteHost: S1 });
    assert.equal(inn(t, TCP, S1, 1234, 8080), `${H1}:80`);
    assert.equal(inn(t, TCP, S2, 1234, 8080), 'no-mapping');
    // The wildcard added after the specific one still loses to it.
    assert.equal(t.addPortMapping({ ...base, internalClient: H2, internalPort: 81 }).ok, true);
    assert.equal(inn(t, TCP, S1, 1234, 8080), `${H1}:80`);
    assert.equal(inn(t, TCP, S2, 1234, 8080), `${H2}:81`);
    assert.equal(t.listPortMappings().length, 2);
  });
  test('conflict with another client; replacement by the same client; removal', () => {
    const t = table();
    t.addPortMapping(base);
    const c = t.addPortMapping({ ...base, internalClient: H2 });
    assert.equal(c.ok, false);
    assert.equal(!c.ok && c.reason, 'conflict');
    assert.deepEqual(t.addPortMapping({ ...base, internalPort: 8000, description: 'new' }), { ok: true, replaced: true });
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:8000`);
    assert.deepEqual(t.listPortMappings(), [{ ...base, internalPort: 8000, description: 'new' }]);
    assert.equal(t.removePortMapping(6, 8080, 0)?.internalPort, 8000);
    assert.equal(t.removePortMapping(6, 8080, 0), null);
    assert.equal(inn(t, TCP, S1, 1, 8080), 'no-mapping');
    assert.equal(t.listPortMappings().length, 0);
  });
  test('re-pointing a mapping whose host has live flows through it is a replacement, not a conflict', () => {
    const t = table();
    t.addPortMapping(base);
    assert.equal(out(t, TCP, H1, 80, S1, 5555, 0, SYN), 8080);
    assert.deepEqual(t.addPortMapping({ ...base, internalPort: 81 }), { ok: true, replaced: true });
    assert.equal(inn(t, TCP, S2, 1, 8080), `${H1}:81`);
    // A new client may not take the port while H1's flow holds it... even through a new remote-specific entry.
    const c = t.addPortMapping({ ...base, remoteHost: S2, internalClient: H2 });
    assert.ok(!c.ok && c.reason === 'conflict');
  });
  test('a port held by another host’s flow cannot be mapped to someone else (no overloading)', () => {
    const t = table();
    const p = out(t, TCP, H1, 8080, S1, 80, 0, SYN);
    const r = t.addPortMapping({ ...base, externalPort: p, internalClient: H2 });
    assert.ok(!r.ok && r.reason === 'conflict');
    assert.equal(t.addPortMapping({ ...base, externalPort: p, internalPort: 8080 }).ok, true, 'its own owner may map it');
  });
  test('bad mappings are refused with a reason, never thrown', () => {
    const t = table();
    const bad: Partial<Record<keyof NatPortMapping, unknown>>[] = [
      { externalPort: 0 }, { externalPort: 65536 }, { internalPort: 1.5 }, { protocol: 1 }, { protocol: 99 },
      { internalClient: 0 }, { internalClient: -1 }, { remoteHost: 2 ** 32 }, { enabled: 1 }, { description: 7 },
    ];
    for (const b of bad) {
      const r = t.addPortMapping({ ...base, ...b } as NatPortMapping);
      assert.ok(!r.ok && r.reason === 'invalid' && r.problem.length > 0, JSON.stringify(b));
    }
    assert.equal(t.listPortMappings().length, 0);
    assert.equal(t.removePortMapping(1, 8080, 0), null);
  });
  test('a disabled mapping forwards nothing and stays listed (U7)', () => {
    const t = table({ filtering: 'endpoint-independent' });
    t.addPortMapping({ ...base, enabled: false });
    assert.equal(inn(t, TCP, S1, 1, 8080), 'mapping-disabled');
    assert.equal(t.counters.drops['mapping-disabled'], 1);
    assert.equal(t.listPortMappings()[0]!.enabled, false);
    assert.notEqual(out(t, TCP, H1, 80, S1, 1, 0, SYN), 8080, 'nor does its host leave from it');
    t.addPortMapping(base);
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:80`);
  });
  test('filters (PCP FILTER) admit only their peers; others get only what a flow of the host lets in', () => {
    const t = table({ filtering: 'endpoint-independent' });
    assert.ok(t.addPortMapping({ ...base, filters: [{ address: S1, prefixLength: 32, port: 0 }, { address: S2, prefixLength: 32, port: 7 }] }).ok);
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:80`, 'S1, any port');
    assert.equal(inn(t, TCP, S2, 7, 8080), `${H1}:80`, 'S2 from port 7');
    assert.equal(inn(t, TCP, S2, 8, 8080), 'filtered', 'S2 from another port');
    assert.equal(inn(t, TCP, EXT2, 1, 8080), 'filtered');
    assert.equal(out(t, TCP, H1, 80, EXT2, 1, 0, SYN), 8080, 'the host itself opens a flow to EXT2 from the mapped port');
    assert.equal(inn(t, TCP, EXT2, 1, 8080, 0, ACK), `${H1}:80`, 'its reply comes in');
    assert.ok(t.addPortMapping({ ...base, filters: [{ address: ip('198.51.100.0'), prefixLength: 24, port: 0 }] }).ok);
    assert.equal(inn(t, TCP, ip('198.51.100.200'), 9, 8080), `${H1}:80`, 'a /24');
    assert.ok(t.addPortMapping(base).ok, 'replacing without filters removes them');
    assert.equal(inn(t, TCP, S2, 8, 8080), `${H1}:80`);
    assert.ok(!t.addPortMapping({ ...base, filters: [{ address: S1, prefixLength: 33, port: 0 }] }).ok, 'prefix > 32');
  });
  test('the LAN broadcast address as internal client is returned as is (U12)', () => {
    const t = table();
    t.addPortMapping({ ...base, protocol: 17, internalClient: BCAST, internalPort: 9 });
    assert.equal(inn(t, UDP, S1, 7, 8080), `${BCAST}:9`);
  });
  test('a mapped port is never handed to a dynamic flow; the mapped host leaves from its mapped port', () => {
    const t = table({ portAllocation: 'preserve' });
    t.addPortMapping({ ...base, protocol: 17, externalPort: 5000, internalClient: H2, internalPort: 7000 });
    assert.equal(out(t, UDP, H1, 5000, S1, 3478), 5001);
    assert.equal(out(t, UDP, H2, 7000, S1, 3478), 5000, 'so replies and STUN see the mapped port');
    assert.equal(out(t, UDP, H2, 7000, S2, 3478), 5000);
    assert.equal(inn(t, UDP, S1, 3478, 5000), `${H2}:7000`);
  });
  test('a remote-specific mapping is used outbound only towards its remote host', () => {
    const t = table({ portAllocation: 'preserve' });
    t.addPortMapping({ ...base, protocol: 17, externalPort: 5000, remoteHost: S1, internalClient: H2, internalPort: 7000 });
    assert.equal(out(t, UDP, H2, 7000, S1, 1), 5000);
    assert.equal(out(t, UDP, H2, 7000, S2, 1), 7000);
  });
  test('expire() ends flows only: a port mapping stays until removePortMapping (leases are the control plane\'s)', () => {
    const t = table();
    t.addPortMapping(base);
    t.addPortMapping({ ...base, remoteHost: S1 });
    assert.equal(out(t, TCP, H2, 5555, S1, 80, 0, SYN) > 0, true);
    assert.equal(t.expire(365 * 24 * 3_600_000), 1, 'the one flow');
    assert.equal(t.listPortMappings().length, 2);
    assert.equal(inn(t, TCP, S2, 1, 8080), `${H1}:80`);
  });
  test('the table keeps its own copy of a mapping', () => {
    const t = table();
    const m = { ...base };
    t.addPortMapping(m);
    (m as { internalPort: number }).internalPort = 9999;
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:80`);
  });
});

describe('external address', () => {
  test('a change flushes dynamic flows; port mappings follow the new address (U14)', () => {
    const t = table({ filtering: 'address-dependent' });
    t.addPortMapping({ protocol: 6, externalPort: 8080, remoteHost: 0, internalClient: H1, internalPort: 80, enabled: true });
    const p = out(t, UDP, H1, 5000, S1, 53);
    const flushed = t.setExternalAddress(EXT2);
    assert.deepEqual(flushed.map((f) => [f.internalAddr, f.externalAddr, f.externalPort]), [[H1, EXT, p]]);
    assert.equal(t.size, 0);
    assert.equal(t.counters.flowsFlushed, 1);
    assert.equal(t.externalAddress, EXT2);
    assert.equal(inn(t, UDP, S1, 53, p), 'no-mapping', 'the old flow is gone');
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:80`, 'the mapping still forwards');
    const q = out(t, UDP, H1, 5000, S1, 53);
    assert.equal(t.result.addr, EXT2);
    assert.equal(inn(t, UDP, S1, 53, q), `${H1}:5000`, 'new flows work both ways');
    assert.equal(t.outbound(TCP, H2, 40000, EXT2, 8080, SYN, 0), VERDICT.hairpin, 'hairpin follows the new address');
    assert.equal(`${t.result.addr}:${t.result.addr2}:${t.result.port2}`, `${EXT2}:${H1}:80`);
    assert.equal(t.outbound(TCP, H2, 40001, EXT, 8080, SYN, 0), VERDICT.forward, 'the old address is just another host');
  });
  test('setting the same address keeps the flows', () => {
    const t = table();
    out(t, UDP, H1, 5000, S1, 53);
    assert.deepEqual(t.setExternalAddress(EXT), []);
    assert.equal(t.size, 1);
  });
  test('without an external address nothing goes out; an unknown protocol is dropped', () => {
    const r = resolveNatConfig();
    assert.ok(r.ok);
    const t = new NatTable(r.config);
    assert.equal(outDrop(t, UDP, H1, 5000, S1, 53), 'no-external-address');
    t.setExternalAddress(EXT);
    assert.equal(outDrop(t, 47, H1, 0, S1, 0), 'unsupported-protocol');
    assert.equal(t.inbound(47, S1, 0, 0, 0, 0), VERDICT.drop);
    assert.equal(t.result.reason, 'unsupported-protocol');
  });
});

describe('storage', () => {
  test('churn: flows created and expired over and over keep every lookup right and short', () => {
    for (const mapping of ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const) {
      const t = table({ capacity: 4000, mapping, filtering: 'address-and-port-dependent', portAllocation: 'random' });
      const rnd = seeded(7);
      const live = new Map<string, number>();
      let now = 0;
      for (let round = 0; round < 25; round++) {
        for (let i = 0; i < 1500; i++) {
          const h = H1 + Math.floor(rnd() * 50), hp = 1024 + Math.floor(rnd() * 200);
          const r = S1 + Math.floor(rnd() * 5), rp = 1 + Math.floor(rnd() * 20);
          const proto = rnd() < 0.5 ? UDP : TCP;
          if (t.outbound(proto, h, hp, r, rp, SYN, now) !== VERDICT.forward) {
            assert.equal(t.result.reason, 'table-full');
            continue;
          }
          live.set(`${proto}:${h}:${hp}:${r}:${rp}`, t.result.port);
        }
        now += 120_000;
        for (const e of expired(t, now)) live.delete(`${e.protocol}:${e.internalAddr}:${e.internalPort}:${e.remoteAddr}:${e.remotePort}`);
        assert.equal(t.size, live.size, mapping);
        for (const [k, port] of live) {
          const [proto, h, hp, r, rp] = k.split(':').map(Number) as [number, number, number, number, number];
          assert.ok(t.peekInbound(proto, r, rp, port), k);
          assert.equal(`${t.result.addr}:${t.result.port}`, `${h}:${hp}`);
          assert.ok(t.peekOutbound(proto, h, hp, r, rp));
          assert.equal(t.result.port, port);
        }
        // Expired tuples are really gone from both indexes.
        assert.equal(t.snapshot().length, live.size);
      }
      const s = t.probeStats();
      assert.ok(s.outMean < 1.5 && s.inMean < 1.5, `${mapping}: probe lengths stay short after churn: ${JSON.stringify(s)}`);
      assert.ok(t.counters.flowsExpired > 10_000);
    }
  });
  test('peek finds a flow without creating or refreshing it', () => {
    const t = table();
    const p = out(t, UDP, H1, 5000, S1, 53, 0);
    assert.equal(t.peekInbound(UDP, S1, 53, p), true);
    assert.equal(`${t.result.addr}:${t.result.port}`, `${H1}:5000`);
    assert.equal(t.peekInbound(UDP, S1, 54, p), false);
    assert.equal(t.peekOutbound(UDP, H1, 5000, S1, 54), false);
    assert.equal(only(t).expiresMs, UDP_MS);
    assert.equal(t.size, 1);
  });
  test('counters and snapshot describe the live table', () => {
    const t = table();
    out(t, UDP, H1, 5000, S1, 53, 0);
    out(t, TCP, H1, 5000, S1, 80, 0, SYN);
    inn(t, UDP, S1, 53, 5000, 1);
    assert.equal(t.counters.flowsCreated, 2);
    assert.equal(t.counters.translatedOutbound, 2);
    assert.equal(t.counters.translatedInbound, 1);
    assert.equal(t.snapshot(1).length, 1);
    assert.deepEqual(t.snapshot().map((f) => f.protocol).sort((a, b) => a - b), [TCP, UDP]);
    assert.ok(t.storageBytes > 0);
  });
  test('query filters by protocol, address, port and TCP state, counts every match and builds only the page', () => {
    const t = table();
    for (let i = 0; i < 50; i++) out(t, UDP, H1, 6000 + i, S1, 53, 0);
    out(t, TCP, H2, 5000, S2, 80, 0, SYN);
    const established = out(t, TCP, H2, 5001, S2, 443, 0, SYN);
    assert.equal(inn(t, TCP, S2, 443, established, 0, SYN | ACK), `${H2}:5001`);
    out(t, ICMP, H3, 77, S1, 0, 0);
    assert.equal(t.query({}, 0, 10).total, 53);
    assert.equal(t.query({}, 0, 10).flows.length, 10);
    const udp = t.query({ protocol: UDP }, 45, 10);
    assert.deepEqual([udp.total, udp.flows.map((f) => f.internalPort)], [50, [6045, 6046, 6047, 6048, 6049]]);
    assert.deepEqual(t.query({ protocol: UDP }, 50, 10), { total: 50, flows: [] });
    assert.equal(t.query({ addr: H2 }, 0, 100).total, 2);
    assert.equal(t.query({ addr: S1 }, 0, 100).total, 51);
    assert.equal(t.query({ addr: EXT }, 0, 100).total, 53, 'the external address is every flow\'s');
    assert.equal(t.query({ addr: ip('10.9.9.9') }, 0, 100).total, 0);
    assert.deepEqual(t.query({ port: 443 }, 0, 100).flows.map((f) => f.internalPort), [5001]);
    assert.deepEqual(t.query({ port: 6007 }, 0, 100).flows.map((f) => f.remotePort), [53]);
    assert.deepEqual(t.query({ tcpState: 'established' }, 0, 100).flows.map((f) => f.internalPort), [5001]);
    assert.deepEqual(t.query({ tcpState: 'syn-sent' }, 0, 100).flows.map((f) => f.remotePort), [80]);
    assert.equal(t.query({ protocol: ICMP, port: 77 }, 0, 100).total, 1);
    assert.equal(t.query({ protocol: TCP, addr: H1 }, 0, 100).total, 0);
  });
});

test('out-of-range numbers are reduced to address and port widths, never a new flow per packet', () => {
  const t = table();
  const p = out(t, UDP, H1 - 2 ** 32, 5000 + 65536, S1, 53);
  assert.equal(p, 5000);
  assert.equal(out(t, UDP, H1, 5000, S1, 53), 5000);
  assert.equal(t.size, 1);
  assert.equal(inn(t, UDP, S1 - 2 ** 32, 53, 5000 + 65536), `${H1}:5000`);
});

test('isMappedEndpoint: an enabled mapping whose internal side is the endpoint, admitting the remote', () => {
  const t = table();
  t.addPortMapping({ protocol: 6, externalPort: 8443, remoteHost: 0, internalClient: H1, internalPort: 443, enabled: true });
  t.addPortMapping({ protocol: 17, externalPort: 5000, remoteHost: S1, internalClient: H2, internalPort: 5000, enabled: true });
  t.addPortMapping({ protocol: 17, externalPort: 6000, remoteHost: 0, internalClient: H3, internalPort: 6000, enabled: false });
  assert.equal(t.isMappedEndpoint(6, H1, 443, S2), true);
  assert.equal(t.isMappedEndpoint(17, H1, 443, S2), false, 'another protocol');
  assert.equal(t.isMappedEndpoint(6, H1, 444, S2), false, 'another port');
  assert.equal(t.isMappedEndpoint(17, H2, 5000, S1), true);
  assert.equal(t.isMappedEndpoint(17, H2, 5000, S2), false, 'the mapping admits only S1');
  assert.equal(t.isMappedEndpoint(17, H3, 6000, S1), false, 'disabled');
  assert.equal(t.isMappedEndpoint(1, H1, 443, S1), false, 'ICMP has no mappings');
  t.removePortMapping(6, 8443, 0);
  assert.equal(t.isMappedEndpoint(6, H1, 443, S2), false, 'removed');
});

describe('openFlow (PCP PEER, RFC 6887 §12): an outbound flow made and held before any packet', () => {
  const opened = (r: ReturnType<NatTable['openFlow']>) => {
    assert.ok(r.ok, JSON.stringify(r));
    return r;
  };

  test('the flow it makes is the one the first real packet then uses, both ways; nothing is counted as traffic', () => {
    const t = table({ portAllocation: 'random' });
    const r = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 600_000));
    assert.deepEqual([r.created, r.externalAddr, r.expiresMs], [true, EXT, 600_000]);
    assert.equal(t.counters.translatedOutbound, 0);
    assert.equal(out(t, UDP, H1, 5000, S1, 3478, 1000), r.externalPort, 'the packet leaves from the port PEER reported');
    assert.equal(t.size, 1, 'no second flow');
    assert.equal(inn(t, UDP, S1, 3478, r.externalPort, 2000), `${H1}:5000`, 'the reply comes back');
    const again = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 3000, 900_000));
    assert.deepEqual([again.created, again.externalPort, again.expiresMs], [false, r.externalPort, 900_000]);
  });

  test('endpoint-independent mapping: a PEER to a second peer gets the binding the host already has', () => {
    const t = table({ mapping: 'endpoint-independent', portAllocation: 'random' });
    const p = out(t, UDP, H1, 5000, S1, 53);
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S2, 4000, 0, 60_000)).externalPort, p);
    const q = table({ mapping: 'address-and-port-dependent', portAllocation: 'random' });
    const p2 = out(q, UDP, H1, 5000, S1, 53);
    assert.notEqual(opened(q.openFlow(UDP, H1, 5000, S2, 4000, 0, 60_000)).externalPort, p2, 'symmetric: a new port per peer');
  });

  test('an endpoint with a wildcard port mapping gets the mapping\'s external port', () => {
    const t = table();
    t.addPortMapping({ protocol: 17, externalPort: 40001, remoteHost: 0, internalClient: H1, internalPort: 5000, enabled: true });
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 60_000)).externalPort, 40001);
  });

  test('held past the idle timeout until the held time, then expired; the hold does not block earlier traffic expiry of others', () => {
    const t = table();
    const hold = UDP_MS + 600_000;
    const r = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, hold));
    out(t, UDP, H2, 6000, S1, 53, 0);
    assert.deepEqual(expired(t, UDP_MS).map((f) => f.internalAddr), [H2], 'the unheld flow goes at its idle timeout');
    assert.equal(t.size, 1);
    assert.equal(only(t).expiresMs, hold, 'reported with the later of hold and idle timer');
    assert.equal(inn(t, UDP, S1, 3478, r.externalPort, UDP_MS + 1000), `${H1}:5000`, 'still forwards while held');
    assert.equal(t.expire(hold - 1), 0);
    const gone = expired(t, hold);
    assert.deepEqual(gone.map((f) => [f.internalAddr, f.externalPort]), [[H1, r.externalPort]]);
    assert.equal(t.size, 0);
  });

  test('traffic after the hold keeps it by the idle timer; a later hold of 0 leaves only the idle timer', () => {
    const t = table();
    const r = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 10_000));
    out(t, UDP, H1, 5000, S1, 3478, 20_000);
    assert.equal(t.expire(20_000 + UDP_MS - 1), 0);
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S1, 3478, 30_000, 0)).expiresMs, 20_000 + UDP_MS);
    assert.equal(expired(t, 20_000 + UDP_MS)[0]?.externalPort, r.externalPort);
  });

  test('TCP: a held flow before its SYN, which then goes through on the same port', () => {
    const t = table({ portAllocation: 'random' });
    const r = opened(t.openFlow(TCP, H1, 40000, S1, 443, 0, 3_600_000));
    assert.equal(only(t).tcpState, 'syn-sent');
    assert.equal(out(t, TCP, H1, 40000, S1, 443, 1000, SYN), r.externalPort);
    assert.equal(t.expire(TRANS_MS + 1000), 0, 'held past the transitory timeout');
  });

  test('refusals come back with a reason, create nothing and count no drop', () => {
    const none = new NatTable(table().config);
    assert.deepEqual(none.openFlow(UDP, H1, 5000, S1, 1, 0, 1), { ok: false, reason: 'no-external-address' });
    assert.deepEqual(table().openFlow(ICMP, H1, 5000, S1, 1, 0, 1), { ok: false, reason: 'unsupported-protocol' });
    assert.deepEqual(table({ hairpinning: false }).openFlow(UDP, H1, 5000, EXT, 1, 0, 1), { ok: false, reason: 'hairpin-disabled' });
    const full = table({ capacity: 1 });
    opened(full.openFlow(UDP, H1, 5000, S1, 1, 0, 1));
    assert.deepEqual(full.openFlow(UDP, H1, 5001, S1, 1, 0, 1), { ok: false, reason: 'table-full' });
    const few = table({ portAllocation: 'sequential', portRange: { min: 40000, max: 40000 }, mapping: 'address-and-port-dependent' });
    opened(few.openFlow(UDP, H1, 5000, S1, 1, 0, 1));
    assert.deepEqual(few.openFlow(UDP, H1, 5001, S1, 1, 0, 1), { ok: false, reason: 'ports-exhausted' });
    assert.equal(full.size + few.size, 2);
    assert.equal(full.counters.drops['table-full'] + few.counters.drops['ports-exhausted'], 0);
    assert.equal(full.counters.flowsCreated, 1);
  });

  test('an external address change flushes held flows like any other', () => {
    const t = table();
    opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 3_600_000));
    assert.equal(t.setExternalAddress(EXT2).length, 1);
    assert.equal(t.size, 0);
  });

  test('a tagged hold: another tag is refused with the hold time and changes nothing; the same tag extends it', () => {
    const t = table();
    const r = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 600_000, { tag: 'a' }));
    assert.deepEqual(t.openFlow(UDP, H1, 5000, S1, 3478, 1000, 900_000, { tag: 'b' }), { ok: false, reason: 'held-by-other', holdUntilMs: 600_000 });
    assert.deepEqual(t.endHold(UDP, H1, 5000, S1, 3478, 1000, 'b'), { ok: false, reason: 'held-by-other', holdUntilMs: 600_000 });
    assert.equal(only(t).expiresMs, 600_000, 'the hold is unchanged');
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S1, 3478, 2000, 900_000, { tag: 'a' })).expiresMs, 900_000);
    assert.equal(t.expire(899_999), 0);
    // Once the hold is over (the flow lives on by traffic), another tag may hold it.
    out(t, UDP, H1, 5000, S1, 3478, 899_000);
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S1, 3478, 900_001, 2_000_000, { tag: 'b' })).externalPort, r.externalPort);
  });

  test('a flow traffic made (no hold) is taken by any tag', () => {
    const t = table();
    const p = out(t, UDP, H1, 5000, S1, 3478, 0);
    const r = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 1000, 600_000, { tag: 'a' }));
    assert.deepEqual([r.created, r.externalPort], [false, p]);
  });

  test('endHold: the flow then lives by its idle timer alone; absent is found: false; nothing is created', () => {
    const t = table();
    const r = opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 3_600_000, { tag: 'a' }));
    out(t, UDP, H1, 5000, S1, 3478, 10_000);
    assert.deepEqual(t.endHold(UDP, H1, 5000, S1, 3478, 20_000, 'a'),
      { ok: true, found: true, externalAddr: EXT, externalPort: r.externalPort, expiresMs: 10_000 + UDP_MS });
    assert.equal(t.expire(10_000 + UDP_MS - 1), 0, 'not before its idle timeout');
    assert.equal(expired(t, 10_000 + UDP_MS).length, 1, 'removed at its idle timeout, not at the old hold');
    assert.deepEqual(t.endHold(UDP, H1, 5000, S1, 3478, 20_000, 'a'), { ok: true, found: false });
    assert.deepEqual(t.endHold(ICMP, H1, 5000, S1, 3478, 20_000, 'a'), { ok: true, found: false });
    assert.equal(t.size, 0);
    // With the idle timer already out, the next sweep removes it.
    opened(t.openFlow(UDP, H2, 6000, S1, 3478, 0, 3_600_000, { tag: 'a' }));
    assert.equal(t.endHold(UDP, H2, 6000, S1, 3478, UDP_MS + 1, 'a').ok, true);
    assert.equal(t.expire(UDP_MS + 1), 1);
    // After an end, any tag may hold the flow again.
    opened(t.openFlow(UDP, H3, 7000, S1, 1, 0, 3_600_000, { tag: 'a' }));
    t.endHold(UDP, H3, 7000, S1, 1, 1, 'a');
    assert.equal(t.openFlow(UDP, H3, 7000, S1, 1, 2, 3_600_000, { tag: 'b' }).ok, true);
  });

  test('a tag does not outlive its flow: a new flow of the same 5-tuple is free for any tag', () => {
    const t = table();
    opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 10_000, { tag: 'a' }));
    assert.equal(t.expire(UDP_MS), 1);
    assert.equal(t.openFlow(UDP, H1, 5000, S1, 3478, UDP_MS, UDP_MS + 10_000, { tag: 'b' }).ok, true);
    t.setExternalAddress(EXT2);
    assert.equal(t.openFlow(UDP, H1, 5000, S1, 3478, UDP_MS, UDP_MS + 10_000, { tag: 'c' }).ok, true);
  });

  test('suggested port: taken when the flow needs a new binding and the port is free, in the port\'s class', () => {
    const t = table({ mapping: 'endpoint-independent', portAllocation: 'sequential' });
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 60_000, { suggestedPort: 45678 })).externalPort, 45678);
    assert.equal(out(t, UDP, H1, 5000, S1, 3478, 1), 45678, 'traffic then uses it');
    // An existing binding (endpoint-independent mapping) decides, as for the first packet.
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S2, 1, 0, 60_000, { suggestedPort: 45000 })).externalPort, 45678);
    // Taken by another endpoint: the allocator's choice instead.
    const other = opened(t.openFlow(UDP, H2, 5000, S1, 3478, 0, 60_000, { suggestedPort: 45678 })).externalPort;
    assert.notEqual(other, 45678);
    // Outside the class of the internal port (1024 and up → the configured range): ignored.
    assert.notEqual(opened(t.openFlow(UDP, H3, 5000, S1, 3478, 0, 60_000, { suggestedPort: 80 })).externalPort, 80);
    // A port a mapping reserves is not free.
    t.addPortMapping({ protocol: 17, externalPort: 46000, remoteHost: 0, internalClient: H2, internalPort: 9, enabled: true });
    assert.notEqual(opened(t.openFlow(UDP, H3, 5001, S1, 3478, 0, 60_000, { suggestedPort: 46000 })).externalPort, 46000);
    // An existing flow keeps its port.
    assert.equal(opened(t.openFlow(UDP, H1, 5000, S1, 3478, 0, 60_000, { suggestedPort: 47000 })).externalPort, 45678);
    // A wildcard port mapping of the endpoint wins over the suggestion.
    t.addPortMapping({ protocol: 17, externalPort: 40001, remoteHost: 0, internalClient: H3, internalPort: 6000, enabled: true });
    assert.equal(opened(t.openFlow(UDP, H3, 6000, S1, 3478, 0, 60_000, { suggestedPort: 47001 })).externalPort, 40001);
  });
});
