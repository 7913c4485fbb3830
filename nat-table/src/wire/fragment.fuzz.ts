/**
 * Fuzz properties of IPv4 reassembly, run by the suite (test/fuzz) and by `npm run fuzz`.
 * Round trip: any datagram fragmented at any MTU, its fragments in any order with a
 * duplicate, reassembles byte for byte, once. Random streams: fragments of a few
 * datagrams with random offsets, lengths, MF bits and gaps in time, into a reassembler
 * with small limits: `add` never throws, answers pending, done or a known drop reason,
 * never holds more datagrams than its limit, counts every fragment, and every datagram it
 * completes is an unfragmented IPv4 packet with a valid header checksum.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { internetChecksum } from './checksum.js';
import { Reassembler, fragmentIpv4 } from './fragment.js';
import { Ipv4Packet, emitIpv4 } from './ipv4.js';

const SRC = 0xc0a80164;
const DST = 0xc6336401;
const DROPS = new Set(['overlap', 'too-big', 'bad-length', 'evicted', 'timeout']);

/** A UDP datagram of `payloadLength` bytes from `seed` (also used by fragment.test.ts). */
export function datagram(payloadLength: number, id = 0x1234, seed = 1): Uint8Array {
  const buf = new Uint8Array(20 + payloadLength);
  emitIpv4({ srcAddr: SRC, dstAddr: DST, protocol: 17, payloadLength, ttl: 64, identification: id }, buf, 0);
  for (let i = 0; i < payloadLength; i++) buf[20 + i] = (i * 31 + seed) & 0xff;
  return buf;
}

/** The fragments `fragmentIpv4` makes of `buf` at `mtu`, each in a buffer of its own. */
export function fragments(buf: Uint8Array, mtu: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  fragmentIpv4(buf, 0, buf.length, mtu, (h, p) => {
    const f = new Uint8Array(h.length + p.length);
    f.set(h);
    f.set(p, h.length);
    out.push(f);
  });
  return out;
}

const ip = new Ipv4Packet();

/** One fragment of datagram `id`: payload bytes at `offset8` × 8, MF as given. */
function fragment(id: number, protocol: number, offset8: number, length: number, mf: boolean): Uint8Array {
  const buf = new Uint8Array(20 + length);
  emitIpv4({ srcAddr: SRC, dstAddr: DST, protocol, payloadLength: length, ttl: 64, identification: id }, buf, 0);
  buf[6] = (mf ? 0x20 : 0) | ((offset8 >> 8) & 0x1f);
  buf[7] = offset8 & 0xff;
  buf[10] = 0; buf[11] = 0;
  const c = internetChecksum(buf, 0, 20);
  buf[10] = c >> 8; buf[11] = c & 0xff;
  for (let i = 0; i < length; i++) buf[20 + i] = (offset8 * 8 + i) & 0xff;
  return buf;
}

const streamOp = fc.record({
  id: fc.nat(5), protocol: fc.constantFrom(6, 17), offset8: fc.oneof(fc.nat(40), fc.nat(8191)),
  length: fc.oneof(fc.constantFrom(0, 8, 16, 64, 1480), fc.nat(300)), mf: fc.boolean(), advanceMs: fc.oneof(fc.constant(0), fc.nat(40_000)),
});

export const FUZZ = {
  'fragments: any datagram, MTU and order reassembles byte for byte': () => fc.property(
    fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 68, max: 1500 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.boolean(),
    (len, mtu, seed, dup) => {
      const d = datagram(len, seed & 0xffff, seed);
      const f = fragments(d, mtu);
      if (f.length === 1) return;
      const order = f.map((_, i) => i).sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
      if (dup) order.splice(1, 0, order[0]!);
      const r = new Reassembler();
      const results = order.map((i) => {
        assert.equal(ip.attach(f[i]!, 0, f[i]!.length), 'ok');
        return r.add(ip, 0);
      });
      const done = results.filter((x) => x.kind === 'done');
      assert.equal(done.length, 1);
      const x = results.at(-1)!;
      assert.ok(x.kind === 'done');
      assert.deepEqual(x.buf.subarray(x.offset, x.offset + x.length), d);
      assert.equal(r.size, 0);
    }),
  'fragments: random fragment streams under small limits': () => fc.property(fc.array(streamOp, { maxLength: 30 }), (ops) => {
    const limits = { maxDatagrams: 3, maxBytes: 16 << 10, timeoutMs: 30_000 };
    const r = new Reassembler(limits);
    let now = 0;
    let done = 0;
    for (const o of ops) {
      now += o.advanceMs;
      const f = fragment(o.id, o.protocol, o.offset8, o.length, o.mf);
      if (ip.attach(f, 0, f.length) !== 'ok' || (!ip.moreFragments && ip.fragmentOffset === 0)) continue;
      const res = r.add(ip, now);
      if (res.kind === 'drop') assert.ok(DROPS.has(res.reason), res.reason);
      else if (res.kind === 'done') {
        done++;
        const out = new Ipv4Packet();
        assert.equal(out.attach(res.buf, res.offset, res.length), 'ok');
        assert.equal(out.moreFragments, false);
        assert.equal(out.fragmentOffset, 0);
        assert.equal(out.totalLength, res.length);
        assert.equal(internetChecksum(res.buf, res.offset, out.headerLength), 0, 'header checksum');
      } else assert.equal(res.kind, 'pending');
      assert.ok(r.size <= limits.maxDatagrams, `${r.size} datagrams held`);
    }
    assert.equal(r.counters.reassembled, done);
  }),
};
