import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { NatTable, VERDICT, IP_PROTOCOL, type NatPortMapping } from './nat-table.js';
import { resolveNatConfig, type NatConfigInput } from './config.js';

const ip = (s: string): number => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
const EXT = ip('203.0.113.2');
const H1 = ip('192.168.1.100');
const H2 = ip('192.168.1.101');
const BCAST = ip('192.168.1.255');
const S1 = ip('198.51.100.10');
const S2 = ip('198.51.100.11');
const { tcp: TCP, udp: UDP, icmp: ICMP } = IP_PROTOCOL;
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;

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

/** Outbound; returns the external port (asserting forward). */
function out(t: NatTable, proto: number, src: number, sport: number, dst: number, dport: number, now = 0, flags = 0): number {
  const v = t.outbound(proto, src, sport, dst, dport, flags, now);
  assert.equal(v, VERDICT.forward, `outbound dropped: ${t.result.reason}`);
  assert.equal(t.result.addr, EXT);
  return t.result.port;
}

/** Inbound; returns 'internalAddr:port' or the drop reason. */
function inn(t: NatTable, proto: number, src: number, sport: number, dport: number, now = 0, flags = 0): string {
  const v = t.inbound(proto, src, sport, dport, flags, now);
  return v === VERDICT.forward ? `${t.result.addr}:${t.result.port}` : t.result.reason;
}

describe('mapping behaviour (RFC 4787 §4.1)', () => {
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
  });
  test('address-and-port-dependent: a new port per destination endpoint', () => {
    const t = table({ mapping: 'address-and-port-dependent' });
    const ports = new Set([out(t, UDP, H1, 5000, S1, 3478), out(t, UDP, H1, 5000, S1, 3479), out(t, UDP, H1, 5000, S2, 3478)]);
    assert.equal(ports.size, 3);
    // The same flow keeps its port.
    assert.equal(out(t, UDP, H1, 5000, S1, 3479), [...ports][1]);
  });
});

describe('filtering behaviour (RFC 4787 §5)', () => {
  function setup(filtering: NatConfigInput['filtering']) {
    const t = table({ filtering });
    const p = out(t, UDP, H1, 5000, S1, 3478);
    return { t, p };
  }
  test('endpoint-independent: anyone may send to the mapped port', () => {
    const { t, p } = setup('endpoint-independent');
    assert.equal(inn(t, UDP, S1, 3478, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S1, 9999, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S2, 9999, p), `${H1}:5000`);
  });
  test('address-dependent: only addresses the host sent to', () => {
    const { t, p } = setup('address-dependent');
    assert.equal(inn(t, UDP, S1, 3478, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S1, 9999, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S2, 3478, p), 'filtered');
  });
  test('address-and-port-dependent: only the exact endpoint', () => {
    const { t, p } = setup('address-and-port-dependent');
    assert.equal(inn(t, UDP, S1, 3478, p), `${H1}:5000`);
    assert.equal(inn(t, UDP, S1, 9999, p), 'filtered');
    assert.equal(inn(t, UDP, S2, 3478, p), 'filtered');
  });
  test('unsolicited traffic to an unused port is dropped and counted (N3)', () => {
    const t = table({ filtering: 'endpoint-independent' });
    assert.equal(inn(t, UDP, S1, 53, 40000), 'no-mapping');
    assert.equal(inn(t, TCP, S1, 80, 40000, 0, SYN), 'no-mapping');
    assert.equal(t.counters.drops['no-mapping'], 2);
  });
});

describe('port allocation', () => {
  test('preserve keeps the host port, falls back to the next free one in the same class', () => {
    const t = table({ portAllocation: 'preserve' });
    assert.equal(out(t, UDP, H1, 5000, S1, 1), 5000);
    assert.equal(out(t, UDP, H2, 5000, S1, 1), 5001, 'port 5000 is taken: never overloaded');
    assert.equal(out(t, UDP, H1, 123, S1, 123), 123);
    const low = out(t, UDP, H2, 123, S1, 123);
    assert.ok(low >= 1 && low < 1024, `port below 1024 stays below: ${low}`);
    // Another protocol has its own ports.
    assert.equal(out(t, TCP, H2, 5000, S1, 80, 0, SYN), 5000);
  });
  test('sequential walks the range; random stays inside it; high ports never go low', () => {
    const s = table({ portAllocation: 'sequential', portRange: { min: 20000, max: 20009 } });
    assert.deepEqual([1, 2, 3].map((i) => out(s, UDP, H1, 40000 + i, S1, 1)), [20000, 20001, 20002]);
    const r = table({ portAllocation: 'random', portRange: { min: 30000, max: 30999 } });
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = out(r, UDP, H1, 10000 + i, S1, 1);
      assert.ok(p >= 30000 && p <= 30999);
      seen.add(p);
    }
    assert.equal(seen.size, 200, 'no port handed out twice');
  });
  test('port exhaustion drops cleanly and recovers when flows expire', () => {
    const t = table({ portAllocation: 'sequential', portRange: { min: 40000, max: 40002 } });
    for (let i = 0; i < 3; i++) out(t, UDP, H1, 50000 + i, S1, 1, 0);
    assert.equal(t.outbound(UDP, H1, 50009, S1, 1, 0, 0), VERDICT.drop);
    assert.equal(t.result.reason, 'ports-exhausted');
    assert.equal(t.counters.drops['ports-exhausted'], 1);
    t.expire(300_001);
    assert.equal(t.size, 0);
    assert.ok(out(t, UDP, H1, 50009, S1, 1, 300_002) >= 40000);
  });
  test('table full drops cleanly, never overwrites a live flow', () => {
    const t = table({ capacity: 4 });
    for (let i = 0; i < 4; i++) out(t, UDP, H1, 6000 + i, S1, 1);
    assert.equal(t.outbound(UDP, H1, 7000, S1, 1, 0, 0), VERDICT.drop);
    assert.equal(t.result.reason, 'table-full');
    for (let i = 0; i < 4; i++) assert.equal(inn(t, UDP, S1, 1, 6000 + i), `${H1}:${6000 + i}`);
  });
});

describe('timeouts and TCP state (RFC 4787 REQ-5, RFC 5382 REQ-5, RFC 5508)', () => {
  test('UDP: 300 s from the last packet, refreshed by traffic', () => {
    const t = table();
    const p = out(t, UDP, H1, 5000, S1, 53, 0);
    assert.equal(t.expire(299_999).length, 0);
    out(t, UDP, H1, 5000, S1, 53, 200_000);
    assert.equal(t.expire(499_999).length, 0);
    assert.equal(inn(t, UDP, S1, 53, p, 450_000), `${H1}:5000`);
    assert.equal(t.expire(749_999).length, 0);
    const gone = t.expire(750_000);
    assert.equal(gone.length, 1);
    assert.equal(gone[0]!.kind, 'flow');
    assert.equal(inn(t, UDP, S1, 53, p, 750_001), 'no-mapping');
  });
  test('ICMP query: 60 s', () => {
    const t = table();
    const id = out(t, ICMP, H1, 0x1a2b, S1, 0, 0);
    assert.equal(inn(t, ICMP, S1, 0, id, 1000), `${H1}:${0x1a2b}`);
    assert.equal(t.expire(60_999).length, 0);
    assert.equal(t.expire(61_000).length, 1);
  });
  test('TCP: SYN is transitory, SYN both ways is established, FIN both ways or RST is transitory', () => {
    const t = table();
    const p = out(t, TCP, H1, 40000, S1, 80, 0, SYN);
    assert.equal(t.snapshot()[0]!.tcpState, 'syn-sent');
    assert.equal(t.snapshot()[0]!.expiresMs, 240_000);
    assert.equal(inn(t, TCP, S1, 80, p, 10, SYN | ACK), `${H1}:40000`);
    assert.equal(t.snapshot()[0]!.tcpState, 'established');
    assert.equal(t.snapshot()[0]!.expiresMs, 10 + 7_440_000);
    assert.equal(t.expire(7_440_009).length, 0);
    out(t, TCP, H1, 40000, S1, 80, 20, FIN | ACK);
    assert.equal(t.snapshot()[0]!.tcpState, 'closing');
    inn(t, TCP, S1, 80, p, 30, FIN | ACK);
    assert.equal(t.snapshot()[0]!.expiresMs, 30 + 240_000);
    assert.equal(t.expire(240_029).length, 0);
    assert.equal(t.expire(240_030).length, 1);

    const r = table();
    const q = out(r, TCP, H1, 40001, S1, 80, 0, SYN);
    inn(r, TCP, S1, 80, q, 1, SYN | ACK);
    out(r, TCP, H1, 40001, S1, 80, 2, ACK);
    assert.equal(r.snapshot()[0]!.expiresMs, 2 + 7_440_000);
    inn(r, TCP, S1, 80, q, 3, RST);
    assert.equal(r.snapshot()[0]!.tcpState, 'reset');
    assert.equal(r.snapshot()[0]!.expiresMs, 3 + 240_000);
    // A new SYN on the same tuple starts over.
    out(r, TCP, H1, 40001, S1, 80, 4, SYN);
    assert.equal(r.snapshot()[0]!.tcpState, 'syn-sent');
  });
  test('a configured timeout is honoured', () => {
    const t = table({ timeouts: { udpMs: 30_000 } });
    out(t, UDP, H1, 5000, S1, 53, 0);
    assert.equal(t.expire(29_999).length, 0);
    assert.equal(t.expire(30_000).length, 1);
  });
});

describe('hairpinning (RFC 4787 REQ-9)', () => {
  test('on: a LAN host reaches another through the external address, seen from the external address', () => {
    const t = table({ hairpinning: true, filtering: 'endpoint-independent' });
    const p2 = out(t, UDP, H2, 6000, S1, 3478);
    const v = t.outbound(UDP, H1, 5000, EXT, p2, 0, 0);
    assert.equal(v, VERDICT.hairpin);
    assert.equal(t.result.addr, EXT);
    const p1 = t.result.port;
    assert.equal(`${t.result.addr2}:${t.result.port2}`, `${H2}:6000`);
    // The reply goes back the same way.
    assert.equal(t.outbound(UDP, H2, 6000, EXT, p1, 0, 0), VERDICT.hairpin);
    assert.equal(`${t.result.addr2}:${t.result.port2}`, `${H1}:5000`);
  });
  test('off: dropped with a reason', () => {
    const t = table({ hairpinning: false });
    assert.equal(t.outbound(UDP, H1, 5000, EXT, 6000, 0, 0), VERDICT.drop);
    assert.equal(t.result.reason, 'hairpin-disabled');
  });
});

describe('port mappings', () => {
  const base: NatPortMapping = { protocol: 6, externalPort: 8080, remoteHost: 0, internalClient: H1, internalPort: 80, enabled: true, leaseExpiresMs: 0 };
  test('wildcard remote host: anyone reaches the internal client, internal port may differ (U13)', () => {
    const t = table({ filtering: 'address-and-port-dependent' });
    assert.deepEqual(t.addPortMapping(base), { ok: true, replaced: false });
    assert.equal(inn(t, TCP, S1, 1234, 8080, 0, SYN), `${H1}:80`);
    assert.equal(inn(t, TCP, S2, 999, 8080, 0, SYN), `${H1}:80`);
    assert.equal(inn(t, UDP, S2, 999, 8080), 'no-mapping', 'protocol matters');
  });
  test('a remote-host mapping lets only that host in; specific beats wildcard (U11)', () => {
    const t = table();
    t.addPortMapping({ ...base, remoteHost: S1 });
    assert.equal(inn(t, TCP, S1, 1234, 8080), `${H1}:80`);
    assert.equal(inn(t, TCP, S2, 1234, 8080), 'no-mapping');
    t.addPortMapping({ ...base, internalClient: H2, internalPort: 81 });
    assert.equal(inn(t, TCP, S1, 1234, 8080), `${H1}:80`);
    assert.equal(inn(t, TCP, S2, 1234, 8080), `${H2}:81`);
  });
  test('conflict with another client; replacement by the same client; removal', () => {
    const t = table();
    t.addPortMapping(base);
    assert.deepEqual(t.addPortMapping({ ...base, internalClient: H2 }), { ok: false, reason: 'conflict' });
    assert.deepEqual(t.addPortMapping({ ...base, internalPort: 8000, description: 'new' }), { ok: true, replaced: true });
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:8000`);
    assert.equal(t.listPortMappings().length, 1);
    assert.equal(t.removePortMapping(6, 8080, 0)?.internalPort, 8000);
    assert.equal(t.removePortMapping(6, 8080, 0), null);
    assert.equal(inn(t, TCP, S1, 1, 8080), 'no-mapping');
    assert.deepEqual(t.addPortMapping({ ...base, externalPort: 0 }), { ok: false, reason: 'invalid' });
  });
  test('a disabled mapping forwards nothing and stays listed (U7)', () => {
    const t = table({ filtering: 'endpoint-independent' });
    t.addPortMapping({ ...base, enabled: false });
    assert.equal(inn(t, TCP, S1, 1, 8080), 'mapping-disabled');
    assert.equal(t.listPortMappings()[0]!.enabled, false);
    t.addPortMapping(base);
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:80`);
  });
  test('broadcast internal client is returned as is (U12)', () => {
    const t = table();
    t.addPortMapping({ ...base, protocol: 17, internalClient: BCAST, internalPort: 9 });
    assert.equal(inn(t, UDP, S1, 7, 8080), `${BCAST}:9`);
  });
  test('a mapped port is never handed to a dynamic flow; the mapped host leaves from its mapped port', () => {
    const t = table({ portAllocation: 'preserve' });
    t.addPortMapping({ ...base, protocol: 17, externalPort: 5000, internalClient: H2, internalPort: 7000 });
    assert.notEqual(out(t, UDP, H1, 5000, S1, 3478), 5000);
    assert.equal(out(t, UDP, H2, 7000, S1, 3478), 5000);
    assert.equal(inn(t, UDP, S1, 3478, 5000), `${H2}:7000`);
  });
  test('a port held by another host’s flow cannot be mapped to someone else', () => {
    const t = table();
    const p = out(t, TCP, H1, 8080, S1, 80, 0, SYN);
    assert.deepEqual(t.addPortMapping({ ...base, externalPort: p, internalClient: H2 }), { ok: false, reason: 'conflict' });
  });
  test('leases expire; static ones do not', () => {
    const t = table();
    t.addPortMapping({ ...base, leaseExpiresMs: 3_600_000 });
    t.addPortMapping({ ...base, externalPort: 8081 });
    assert.equal(t.expire(3_599_999).length, 0);
    const gone = t.expire(3_600_000);
    assert.equal(gone.length, 1);
    assert.equal(gone[0]!.kind, 'port-mapping');
    assert.deepEqual(t.listPortMappings().map((m) => m.externalPort), [8081]);
  });
  test('an external address change flushes flows; mappings follow the new address (U14)', () => {
    const t = table();
    t.addPortMapping(base);
    out(t, UDP, H1, 5000, S1, 53);
    const flushed = t.setExternalAddress(ip('203.0.113.7'));
    assert.equal(flushed.length, 1);
    assert.equal(t.size, 0);
    assert.equal(t.externalAddress, ip('203.0.113.7'));
    assert.equal(inn(t, TCP, S1, 1, 8080), `${H1}:80`);
    assert.equal(t.outbound(UDP, H1, 5000, S1, 53, 0, 0), VERDICT.forward);
    assert.equal(t.result.addr, ip('203.0.113.7'));
  });
});

describe('storage', () => {
  test('churn: many flows created and expired keep every lookup right', () => {
    const t = table({ capacity: 5000, mapping: 'address-and-port-dependent', portAllocation: 'random' });
    const rnd = seeded(7);
    const live = new Map<string, number>();
    let now = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1500; i++) {
        const h = H1 + Math.floor(rnd() * 50), hp = 1024 + Math.floor(rnd() * 200), r = S1 + Math.floor(rnd() * 5), rp = 1 + Math.floor(rnd() * 20);
        if (t.outbound(UDP, h, hp, r, rp, 0, now) !== VERDICT.forward) continue;
        live.set(`${h}:${hp}:${r}:${rp}`, t.result.port);
      }
      now += 200_000;
      for (const e of t.expire(now)) {
        if (e.kind === 'flow') live.delete(`${e.internalAddr}:${e.internalPort}:${e.remoteAddr}:${e.remotePort}`);
      }
      assert.equal(t.size, live.size);
      for (const [k, port] of live) {
        const [h, hp, r, rp] = k.split(':').map(Number) as [number, number, number, number];
        assert.equal(t.inbound(UDP, r, rp, port, 0, now - 1), VERDICT.forward);
        assert.equal(`${t.result.addr}:${t.result.port}`, `${h}:${hp}`);
        assert.ok(t.peekOutbound(UDP, h, hp, r, rp));
        assert.equal(t.result.port, port);
      }
    }
  });
  test('peek finds a flow without creating or refreshing it', () => {
    const t = table();
    const p = out(t, UDP, H1, 5000, S1, 53, 0);
    assert.equal(t.peekInbound(UDP, S1, 53, p), true);
    assert.equal(`${t.result.addr}:${t.result.port}`, `${H1}:5000`);
    assert.equal(t.peekInbound(UDP, S1, 54, p), false);
    assert.equal(t.snapshot()[0]!.expiresMs, 300_000);
  });
});

describe('configuration', () => {
  test('presets resolve to the documented behaviours', () => {
    const want = {
      'full-cone': ['endpoint-independent', 'endpoint-independent'],
      'restricted-cone': ['endpoint-independent', 'address-dependent'],
      'port-restricted-cone': ['endpoint-independent', 'address-and-port-dependent'],
      symmetric: ['address-and-port-dependent', 'address-and-port-dependent'],
      rfc: ['endpoint-independent', 'address-dependent'],
    } as const;
    for (const [name, [m, f]] of Object.entries(want)) {
      const r = resolveNatConfig(name as keyof typeof want);
      assert.ok(r.ok);
      assert.equal(r.config.mapping, m);
      assert.equal(r.config.filtering, f);
    }
    const r = resolveNatConfig({ preset: 'symmetric', filtering: 'endpoint-independent' });
    assert.ok(r.ok && r.config.filtering === 'endpoint-independent' && r.config.mapping === 'address-and-port-dependent');
  });
  test('bad values are rejected with the field named', () => {
    assert.deepEqual(resolveNatConfig({ preset: 'cone' }), { ok: false, field: 'preset', problem: 'must be one of full-cone, restricted-cone, port-restricted-cone, symmetric, rfc' });
    assert.equal((resolveNatConfig({ mapping: 'x' }) as { field: string }).field, 'mapping');
    assert.equal((resolveNatConfig({ portRange: { min: 500, max: 600 } }) as { field: string }).field, 'portRange.min');
    assert.equal((resolveNatConfig({ portRange: { min: 6000, max: 5000 } }) as { field: string }).field, 'portRange');
    assert.equal((resolveNatConfig({ timeouts: { udpMs: -1 } }) as { field: string }).field, 'timeouts.udpMs');
    assert.equal((resolveNatConfig({ capacity: 0 }) as { field: string }).field, 'capacity');
  });
});
