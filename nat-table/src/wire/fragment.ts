/**
 * IPv4 fragments (RFC 791 §3.2, RFC 815 holes): a bounded reassembler and a fragmenter.
 *
 * A NAT cannot translate a fragment on its own: only the first carries the ports. The
 * router reassembles a datagram, translates the whole of it, and fragments it again for
 * the way out when it does not fit (as Linux's conntrack defrag does). Everything is
 * bounded: datagrams in progress, bytes held, and time (a datagram not complete within
 * the timeout is dropped). Overlapping fragments drop their datagram (the Teardrop
 * family; RFC 5722 makes the same choice for IPv6); exact duplicates are ignored.
 *
 * Pure: the caller gives the time; the result of a completed datagram lives in a buffer
 * owned by the reassembler, valid until the next `add`.
 */
import { readU16, writeU16 } from './addr.js';
import { internetChecksum } from './checksum.js';
import type { Ipv4Packet } from './ipv4.js';

/** The largest IPv4 datagram. */
export const IPV4_MAX_DATAGRAM = 65_535;

export interface ReassemblyLimits {
  /** Datagrams being reassembled at once; the oldest is dropped to make room. Default 64. */
  readonly maxDatagrams?: number;
  /** Bytes held by datagrams in progress; beyond it the oldest are dropped. Default 4 MiB. */
  readonly maxBytes?: number;
  /** A datagram not complete this long after its first fragment is dropped. Default 30 000 ms (Linux's ipfrag_time). */
  readonly timeoutMs?: number;
}

export type ReassemblyDrop = 'overlap' | 'too-big' | 'bad-length' | 'evicted' | 'timeout';

export type ReassemblyResult =
  | { readonly kind: 'pending' }
  /** The whole datagram: `buf[offset, offset + length)`, an unfragmented IPv4 packet with a valid header checksum. */
  | { readonly kind: 'done'; readonly buf: Uint8Array; readonly offset: number; readonly length: number }
  | { readonly kind: 'drop'; readonly reason: ReassemblyDrop };

interface Partial {
  readonly key: string;
  readonly startedMs: number;
  /** The first fragment's header (offset 0), once seen. */
  header: Uint8Array | null;
  /** Payload bytes, grown as needed. */
  data: Uint8Array;
  /** Received payload ranges [start, end), sorted, not overlapping. */
  ranges: number[];
  /** Payload length, known once the last fragment (MF clear) arrived; -1 before. */
  total: number;
}

const PENDING: ReassemblyResult = { kind: 'pending' };
/** Room in front of a completed datagram for an Ethernet header (with an 802.1Q tag). */
export const REASSEMBLY_HEADROOM = 18;

export class Reassembler {
  private readonly partials = new Map<string, Partial>();
  private bytes = 0;
  private readonly maxDatagrams: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly out = new Uint8Array(REASSEMBLY_HEADROOM + IPV4_MAX_DATAGRAM);
  readonly counters = { fragments: 0, reassembled: 0, overlap: 0, tooBig: 0, badLength: 0, evicted: 0, timeout: 0, duplicates: 0 };

  constructor(limits: ReassemblyLimits = {}) {
    this.maxDatagrams = limits.maxDatagrams ?? 64;
    this.maxBytes = limits.maxBytes ?? 4 << 20;
    this.timeoutMs = limits.timeoutMs ?? 30_000;
  }

  /** Datagrams in progress. */
  get size(): number {
    return this.partials.size;
  }

  /** Adds the fragment `ip` is attached to (it must be a fragment: MF set or offset ≠ 0). */
  add(ip: Ipv4Packet, nowMs: number): ReassemblyResult {
    this.counters.fragments++;
    this.expire(nowMs);
    const key = `${ip.srcAddr}/${ip.dstAddr}/${ip.protocol}/${ip.identification}`;
    const start = ip.fragmentOffset;
    const len = ip.payloadLength;
    const end = start + len;
    const last = !ip.moreFragments;
    // Every fragment but the last carries a multiple of 8 bytes (RFC 791).
    if ((!last && (len === 0 || len % 8 !== 0)) || ip.presentLength !== ip.totalLength) {
      return this.dropKey(key, 'bad-length');
    }
    if (ip.headerLength + end > IPV4_MAX_DATAGRAM) return this.dropKey(key, 'too-big');
    let p = this.partials.get(key);
    if (!p) {
      while (this.partials.size >= this.maxDatagrams) this.evictOldest();
      p = { key, startedMs: nowMs, header: null, data: new Uint8Array(Math.max(end, 2048)), ranges: [], total: -1 };
      this.partials.set(key, p);
      this.bytes += p.data.length;
    }
    if (last) {
      if ((p.total !== -1 && p.total !== end) || p.ranges.some((_, i) => i % 2 === 1 && p!.ranges[i]! > end)) return this.dropKey(key, 'bad-length');
      p.total = end;
    } else if (p.total !== -1 && end > p.total) {
      return this.dropKey(key, 'bad-length');
    }
    const place = this.insertRange(p, start, end);
    if (place === 'overlap') return this.dropKey(key, 'overlap');
    if (place === 'duplicate') {
      this.counters.duplicates++;
      return PENDING;
    }
    if (end > p.data.length) {
      const grown = new Uint8Array(Math.min(IPV4_MAX_DATAGRAM, Math.max(end, p.data.length * 2)));
      grown.set(p.data);
      this.bytes += grown.length - p.data.length;
      p.data = grown;
    }
    p.data.set(ip.buf.subarray(ip.payloadOffset, ip.payloadOffset + len), start);
    if (start === 0) p.header = ip.buf.slice(ip.offset, ip.payloadOffset);
    while (this.bytes > this.maxBytes && this.partials.size > 1) this.evictOldest(p);
    if (p.header === null || p.total === -1 || p.ranges.length !== 2 || p.ranges[0] !== 0 || p.ranges[1] !== p.total) return PENDING;
    return this.complete(p);
  }

  /** Drops datagrams whose time ran out; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const p of this.partials.values()) {
      if (nowMs - p.startedMs < this.timeoutMs) break; // Map order is insertion order: oldest first.
      this.remove(p);
      this.counters.timeout++;
      n++;
    }
    return n;
  }

  private complete(p: Partial): ReassemblyResult {
    this.remove(p);
    const header = p.header!;
    const o = REASSEMBLY_HEADROOM;
    this.out.set(header, o);
    this.out.set(p.data.subarray(0, p.total), o + header.length);
    const length = header.length + p.total;
    writeU16(this.out, o + 2, length);
    // Keep DF as sent (a fragmented datagram has it clear), drop MF and the offset.
    writeU16(this.out, o + 6, readU16(this.out, o + 6) & 0x4000);
    writeU16(this.out, o + 10, 0);
    writeU16(this.out, o + 10, internetChecksum(this.out, o, header.length));
    this.counters.reassembled++;
    return { kind: 'done', buf: this.out, offset: o, length };
  }

  /** Adds [start, end) to the sorted range list, merging neighbours. */
  private insertRange(p: Partial, start: number, end: number): 'ok' | 'duplicate' | 'overlap' {
    const r = p.ranges;
    let i = 0;
    while (i < r.length && r[i + 1]! <= start) i += 2;
    // r[i..] ends after start: [start, end) must fit before r[i] or be exactly inside it (a duplicate).
    if (i < r.length && r[i]! < end) {
      // Wholly inside what arrived: a retransmitted duplicate; anything else overlaps.
      return r[i]! <= start && end <= r[i + 1]! ? 'duplicate' : 'overlap';
    }
    r.splice(i, 0, start, end);
    // Merge with the neighbours that touch.
    if (i + 2 < r.length && r[i + 1] === r[i + 2]) r.splice(i + 1, 2);
    if (i > 0 && r[i - 1] === r[i]) r.splice(i - 1, 2);
    return 'ok';
  }

  private dropKey(key: string, reason: ReassemblyDrop): ReassemblyResult {
    const p = this.partials.get(key);
    if (p) this.remove(p);
    if (reason === 'overlap') this.counters.overlap++;
    else if (reason === 'too-big') this.counters.tooBig++;
    else if (reason === 'bad-length') this.counters.badLength++;
    return { kind: 'drop', reason };
  }

  private evictOldest(keep?: Partial): void {
    for (const p of this.partials.values()) {
      if (p === keep) continue;
      this.remove(p);
      this.counters.evicted++;
      return;
    }
  }

  private remove(p: Partial): void {
    if (this.partials.delete(p.key)) this.bytes -= p.data.length;
  }
}

/**
 * Splits the IPv4 datagram at `buf[offset, offset + length)` into fragments of at most
 * `mtu` bytes (RFC 791 §3.2): payloads a multiple of 8 but the last; the first keeps every
 * option, the others only options with the copied flag. Calls `emit(header, payload)` per
 * fragment in order, with a header (checksum filled) and a payload view; both are valid
 * only during the call. Returns the fragment count, or 0 when the datagram has DF set or
 * the MTU cannot carry 8 payload bytes. A datagram that fits is emitted as one unchanged.
 */
export function fragmentIpv4(buf: Uint8Array, offset: number, length: number, mtu: number,
  emit: (header: Uint8Array, payload: Uint8Array) => void): number {
  const ihl = (buf[offset]! & 0x0f) * 4;
  const flags = readU16(buf, offset + 6);
  if (length <= mtu) {
    emit(buf.subarray(offset, offset + ihl), buf.subarray(offset + ihl, offset + length));
    return 1;
  }
  if (flags & 0x4000) return 0;
  const baseOffset = (flags & 0x1fff) * 8;
  const originalMf = (flags & 0x2000) !== 0;
  const first = buf.slice(offset, offset + ihl);
  const later = copiedHeader(first);
  const payload = buf.subarray(offset + ihl, offset + length);
  let sent = 0;
  let count = 0;
  while (sent < payload.length) {
    const header = sent === 0 ? first : later;
    const room = Math.floor((mtu - header.length) / 8) * 8;
    if (room < 8) return 0;
    const n = Math.min(room, payload.length - sent);
    const more = sent + n < payload.length || originalMf;
    writeU16(header, 2, header.length + n);
    writeU16(header, 6, (more ? 0x2000 : 0) | ((baseOffset + sent) / 8));
    writeU16(header, 10, 0);
    writeU16(header, 10, internetChecksum(header, 0, header.length));
    emit(header, payload.subarray(sent, sent + n));
    sent += n;
    count++;
  }
  return count;
}

/** The header for fragments after the first: options without the copied flag (bit 7) are left out (RFC 791). */
function copiedHeader(first: Uint8Array): Uint8Array {
  const kept: number[] = [];
  for (let i = 20; i < first.length;) {
    const type = first[i]!;
    if (type === 0) break; // end of options
    if (type === 1) { i++; continue; } // no-op: not needed
    const len = first[i + 1] ?? 0;
    if (len < 2 || i + len > first.length) break;
    if (type & 0x80) for (let j = 0; j < len; j++) kept.push(first[i + j]!);
    i += len;
  }
  while (kept.length % 4 !== 0) kept.push(0);
  const h = new Uint8Array(20 + kept.length);
  h.set(first.subarray(0, 20));
  h.set(kept, 20);
  h[0] = 0x40 | (h.length / 4);
  return h;
}
