/**
 * Fuzz properties of the wire views (Ethernet, ARP, IPv4, UDP, TCP, ICMP), run by the
 * suite (test/fuzz) and by `npm run fuzz`: random bytes (3 in 4 shaped to pass a view's
 * first checks, so deeper paths run) and mutated, truncated real frames, fed to every
 * view in both modes. No attach or accessor may throw; after 'ok' every getter is a
 * number in range (not NaN) or a boolean, every subarray lies inside the attached range,
 * and the values do not depend on what surrounds that range in the buffer (so nothing
 * is read outside it).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EthernetFrame } from './ethernet.js';
import { ArpPacket } from './arp.js';
import { Ipv4Packet } from './ipv4.js';
import { UdpPacket } from './udp.js';
import { TcpPacket } from './tcp.js';
import { IcmpPacket } from './icmp.js';
import { WIRE_REASONS, type WireStatus } from './status.js';
import { FIXTURE, hex } from './test-fixtures.js';

/** xorshift32: a seeded PRNG so a failure reproduces. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

export type Mode = 'full' | 'embedded';
export interface Subject {
  readonly name: string;
  readonly view: object;
  readonly modes: readonly Mode[];
  attach(buf: Uint8Array, offset: number, length: number, mode: Mode): WireStatus;
  /** Calls every non-mutating method; returns their results. */
  probe(): unknown[];
}

const eth = new EthernetFrame(); const arp = new ArpPacket(); const ipv = new Ipv4Packet();
const udp = new UdpPacket(); const tcp = new TcpPacket(); const icmp = new IcmpPacket();
const A = 0xc0a80164, B = 0xc633640a;

export const SUBJECTS: readonly Subject[] = [
  { name: 'ethernet', view: eth, modes: ['full'], attach: (b, o, l) => eth.attach(b, o, l),
    probe: () => [eth.dst(), eth.src(), eth.payload(), eth.isBroadcast(), eth.isGroup(), eth.dstEquals(Uint8Array.of(1, 2, 3, 4, 5, 6))] },
  { name: 'arp', view: arp, modes: ['full'], attach: (b, o, l) => arp.attach(b, o, l),
    probe: () => [arp.senderMac(), arp.targetMac()] },
  { name: 'ipv4', view: ipv, modes: ['full', 'embedded'], attach: (b, o, l, m) => ipv.attach(b, o, l, m),
    probe: () => [ipv.payload(), ipv.options(), ipv.verifyChecksum()] },
  { name: 'udp', view: udp, modes: ['full', 'embedded'], attach: (b, o, l, m) => udp.attach(b, o, l, m),
    probe: () => [udp.payload(), udp.verifyChecksum(A, B), udp.computeChecksum(A, B), udp.verifyChecksum(A, B, 8)] },
  { name: 'tcp', view: tcp, modes: ['full', 'embedded'], attach: (b, o, l, m) => tcp.attach(b, o, l, m),
    probe: () => [tcp.payload(), tcp.options(), tcp.verifyChecksum(A, B), tcp.computeChecksum(A, B), tcp.verifyChecksum(A, B, 20)] },
  { name: 'icmp', view: icmp, modes: ['full'], attach: (b, o, l) => icmp.attach(b, o, l),
    probe: () => [icmp.embedded(), icmp.payload(), icmp.verifyChecksum()] },
];

/** Getter names along a view's prototype chain. */
function getters(view: object): string[] {
  const names: string[] = [];
  for (let p = Object.getPrototypeOf(view) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(p))) if (d.get) names.push(k);
  }
  return names;
}
const GETTERS = new Map(SUBJECTS.map((s) => [s.name, getters(s.view)]));
/** Getters that are positions in the buffer (compared relative to the attach offset). */
const POSITIONS = new Set(['payloadOffset', 'embeddedOffset']);

/**
 * Reads everything a view offers after 'ok', checks each value, and returns a snapshot
 * independent of where the bytes sit: positions relative to `offset`, subarrays as bytes.
 */
function snapshot(s: Subject, buf: Uint8Array, offset: number, length: number): unknown[] {
  const out: unknown[] = [];
  const view = s.view as Record<string, unknown>;
  for (const g of GETTERS.get(s.name)!) {
    const v = view[g];
    if (typeof v === 'boolean') { out.push(v); continue; }
    assert.equal(typeof v, 'number', `${s.name}.${g}`);
    const n = v as number;
    assert.ok(Number.isInteger(n) && n >= -1 && n <= 0xffffffff * 8, `${s.name}.${g} = ${n}`);
    if (POSITIONS.has(g)) {
      assert.ok(n >= offset && n <= offset + length, `${s.name}.${g} inside the range`);
      out.push(n - offset);
    } else if (g.endsWith('Length') || g === 'length') {
      assert.ok(n >= 0 && n <= 0xffff, `${s.name}.${g} = ${n}`);
      out.push(n);
    } else {
      out.push(n);
    }
  }
  for (const v of s.probe()) {
    if (v instanceof Uint8Array) {
      assert.equal(v.buffer, buf.buffer, `${s.name}: a subarray, not a copy`);
      const start = v.byteOffset - buf.byteOffset;
      assert.ok(start >= offset && start + v.length <= offset + length, `${s.name}: subarray inside the range`);
      out.push(start - offset, Array.from(v));
    } else {
      assert.ok(typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v) && v >= -1 && v <= 0xffff), `${s.name}: ${String(v)}`);
      out.push(v);
    }
  }
  return out;
}

/** 'ok' attaches so far (the suite checks the properties reach past the first checks). */
export const reached = { ok: 0 };

/** Attaches `bytes` once alone in a buffer and once inside junk; statuses and snapshots must agree. */
function check(bytes: Uint8Array, r: () => number): void {
  const lead = r() % 9, trail = r() % 9, shift = 1 + (r() % 4);
  const big = new Uint8Array(shift + lead + bytes.length + trail);
  for (let i = 0; i < big.length; i++) big[i] = r() & 0xff;
  // A subarray with a nonzero byteOffset, the bytes at `lead` inside it, junk around them.
  const framed = big.subarray(shift);
  const offset = lead;
  framed.set(bytes, offset);
  for (const s of SUBJECTS) {
    for (const mode of s.modes) {
      const alone = s.attach(bytes, 0, bytes.length, mode);
      assert.ok(alone === 'ok' || (WIRE_REASONS as readonly string[]).includes(alone), `${s.name}: ${alone}`);
      const snapAlone = alone === 'ok' ? snapshot(s, bytes, 0, bytes.length) : null;
      const inJunk = s.attach(framed, offset, bytes.length, mode);
      assert.equal(inJunk, alone, `${s.name} ${mode}: status depends on the surroundings`);
      if (inJunk !== 'ok') continue;
      reached.ok++;
      assert.deepEqual(snapshot(s, framed, offset, bytes.length), snapAlone, `${s.name} ${mode}: values depend on bytes outside the range`);
    }
  }
}

/** Makes random bytes look like the header one view checks, so deeper paths run often. */
function shape(b: Uint8Array, r: () => number): void {
  const n = b.length;
  const kind = r() % 4;
  if (kind === 0 && n >= 8) {
    // ARP for Ethernet/IPv4 at 0.
    b.set([0, 1, 8, 0, 6, 4], 0);
    if (r() % 8 === 0) b[r() % 6] = r() & 0xff;
  } else if (kind === 1 && n >= 8) {
    // UDP at 0: a length field at or near the bytes present.
    const len = n - (r() % 3) + (r() % 8 === 0 ? 1 : 0);
    b[4] = len >> 8; b[5] = len & 0xff;
  } else if (kind === 2 && n >= 13) {
    // TCP at 0: a plausible data offset.
    b[12] = (5 + (r() % 11)) << 4;
  } else {
    // IPv4 at 0, total length at or near the bytes present.
    if (n < 20) return;
    b[0] = 0x45 + (r() % 4 === 0 ? r() % 11 : 0);
    const total = n - (r() % 4 === 0 ? r() % 8 : 0) + (r() % 16 === 0 ? 1 : 0);
    b[2] = total >> 8; b[3] = total & 0xff;
  }
}

const FRAMES = Object.values(FIXTURE).map(hex);

export const FUZZ = {
  'wire views: random and shaped bytes': () => fc.property(
    fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 1600, size: 'max' })), fc.integer({ min: 1, max: 0x7fffffff }), fc.boolean(),
    (input, seed, shaped) => {
      const r = rng(seed);
      const bytes = input.slice();
      if (shaped) shape(bytes, r);
      check(bytes, r);
    }),
  'wire views: mutated and truncated real frames': () => fc.property(
    fc.nat(FRAMES.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.nat(), fc.integer({ min: 1, max: 0x7fffffff }),
    (which, flips, cutAt, seed) => {
      const r = rng(seed);
      const f = FRAMES[which]!.slice();
      for (const [at, v] of flips) f[at % f.length] = v;
      const cut = cutAt % (f.length + 1);
      check(f.subarray(0, cut), r);
      // The same bytes seen from the IPv4 header, the UDP header and the TCP header on.
      if (cut > 14) check(f.slice(14, cut), r);
      if (cut > 42) check(f.slice(34, cut), r);
      if (cut > 62) check(f.slice(42, cut), r);
    }),
};
