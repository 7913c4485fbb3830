/**
 * Test support for links: frames built by hand (Ethernet, ARP, IPv4/UDP, IPv4/TCP) and a
 * tiny host that sits on a Link, answers ARP for its address, learns neighbours, records
 * the UDP datagrams it receives (checking their checksums, partial ones completed
 * first), can echo them back in place from the receive buffer, and sends UDP datagrams
 * as one batch. The link contract tests use it on the link under test and, for the
 * in-memory pair, as the peer at the other end.
 *
 * It is a test tool, not a network stack: no IP options, no fragments, no timers of its
 * own beyond the bounded waits its callers ask for.
 */
import { FrameFlag, createFrameBatch, pushFrame, pushFrameFrom, type FrameBatch } from '../link/frame-batch.js';
import type { Link } from '../link/link.js';
import { completeChecksum, onesComplementSum } from '../link/vnet-header.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function parseMac(text: string): Uint8Array {
  return new Uint8Array(text.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(buf: Uint8Array, at = 0): string {
  return Array.from(buf.subarray(at, at + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseIpv4(text: string): number {
  return text.split('.').reduce((a, o) => ((a << 8) | parseInt(o, 10)) >>> 0, 0);
}

export function formatIpv4(addr: number): string {
  return [addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff].join('.');
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function put32(b: Uint8Array, at: number, v: number): void {
  put16(b, at, v >>> 16);
  put16(b, at + 2, v & 0xffff);
}

function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function get32(b: Uint8Array, at: number): number {
  return ((get16(b, at) << 16) | get16(b, at + 2)) >>> 0;
}

/** Writes an Ethernet II header at `at`; returns the offset after it. */
export function writeEthernet(b: Uint8Array, at: number, dst: Uint8Array, src: Uint8Array, etherType: number): number {
  b.set(dst, at);
  b.set(src, at + 6);
  put16(b, at + 12, etherType);
  return at + 14;
}

/** Builds an ARP request (op 1) or reply (op 2) frame at `at`; returns its length (42). */
export function buildArp(b: Uint8Array, at: number, op: 1 | 2, senderMac: Uint8Array, senderIp: number,
  targetMac: Uint8Array, targetIp: number): number {
  const p = writeEthernet(b, at, op === 1 ? BROADCAST : targetMac, senderMac, ETHERTYPE_ARP);
  put16(b, p, 1);
  put16(b, p + 2, ETHERTYPE_IPV4);
  b[p + 4] = 6;
  b[p + 5] = 4;
  put16(b, p + 6, op);
  b.set(senderMac, p + 8);
  put32(b, p + 14, senderIp);
  b.set(op === 1 ? new Uint8Array(6) : targetMac, p + 18);
  put32(b, p + 24, targetIp);
  return 42;
}

/** Writes a 20-byte IPv4 header with its checksum; returns the offset after it. */
export function writeIpv4(b: Uint8Array, at: number, protocol: number, srcIp: number, dstIp: number, payloadBytes: number, id = 0): number {
  b[at] = 0x45;
  b[at + 1] = 0;
  put16(b, at + 2, 20 + payloadBytes);
  put16(b, at + 4, id);
  put16(b, at + 6, 0x4000);
  b[at + 8] = 64;
  b[at + 9] = protocol;
  put16(b, at + 10, 0);
  put32(b, at + 12, srcIp);
  put32(b, at + 16, dstIp);
  put16(b, at + 10, ~onesComplementSum(b, at, at + 20) & 0xffff);
  return at + 20;
}

/** The folded pseudo-header sum of an IPv4 header at `ip` for `l4Bytes` of L4 data. */
export function pseudoSum(b: Uint8Array, ip: number, l4Bytes: number): number {
  return onesComplementSum(b, ip + 12, ip + 20, b[ip + 9]! + l4Bytes);
}

export interface UdpSpec {
  readonly srcMac: Uint8Array;
  readonly dstMac: Uint8Array;
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcPort: number;
  readonly dstPort: number;
}

/**
 * Builds an IPv4/UDP frame at `at` whose payload is `payloadBytes` long and starts with
 * the 32-bit sequence number `seq` (then bytes `(seq + k) & 0xff`). With `partial` the
 * checksum field holds the pseudo-header sum only (csumStart 34, csumOffset 6), as a
 * device with checksum offload expects. Returns the frame length.
 */
export function buildUdp(b: Uint8Array, at: number, spec: UdpSpec, seq: number, payloadBytes: number, partial: boolean): number {
  const l4Bytes = 8 + payloadBytes;
  const ip = writeEthernet(b, at, spec.dstMac, spec.srcMac, ETHERTYPE_IPV4);
  const udp = writeIpv4(b, ip, 17, spec.srcIp, spec.dstIp, l4Bytes, seq & 0xffff);
  put16(b, udp, spec.srcPort);
  put16(b, udp + 2, spec.dstPort);
  put16(b, udp + 4, l4Bytes);
  put16(b, udp + 6, 0);
  const data = udp + 8;
  if (payloadBytes >= 4) put32(b, data, seq);
  for (let k = Math.min(4, payloadBytes); k < payloadBytes; k++) b[data + k] = (seq + k) & 0xff;
  const pseudo = pseudoSum(b, ip, l4Bytes);
  if (partial) {
    put16(b, udp + 6, pseudo);
  } else {
    const c = ~onesComplementSum(b, udp, udp + l4Bytes, pseudo) & 0xffff;
    put16(b, udp + 6, c === 0 ? 0xffff : c);
  }
  return 14 + 20 + l4Bytes;
}

export interface TcpSpec extends UdpSpec {
  readonly seq: number;
  readonly ack: number;
  /** TCP flags byte (ACK 0x10, PSH 0x08, FIN 0x01, CWR 0x80 ...). */
  readonly flags: number;
}

/**
 * Builds an IPv4/TCP frame (20-byte headers) carrying `payload`; with `partial` its
 * checksum is the pseudo-header sum only (csumStart 34, csumOffset 16). Returns its length.
 */
export function buildTcp4(b: Uint8Array, at: number, spec: TcpSpec, payload: Uint8Array, partial: boolean, id = 1): number {
  const l4Bytes = 20 + payload.length;
  const ip = writeEthernet(b, at, spec.dstMac, spec.srcMac, ETHERTYPE_IPV4);
  const tcp = writeIpv4(b, ip, 6, spec.srcIp, spec.dstIp, l4Bytes, id);
  put16(b, tcp, spec.srcPort);
  put16(b, tcp + 2, spec.dstPort);
  put32(b, tcp + 4, spec.seq);
  put32(b, tcp + 8, spec.ack);
  b[tcp + 12] = 5 << 4;
  b[tcp + 13] = spec.flags;
  put16(b, tcp + 14, 65535);
  put16(b, tcp + 16, 0);
  put16(b, tcp + 18, 0);
  b.set(payload, tcp + 20);
  const pseudo = pseudoSum(b, ip, l4Bytes);
  put16(b, tcp + 16, partial ? pseudo : ~onesComplementSum(b, tcp, tcp + l4Bytes, pseudo) & 0xffff);
  return 14 + 20 + l4Bytes;
}

/** True when the IPv4 header and the TCP/UDP checksum of a plain IPv4 frame are correct. */
export function checksumsValid(b: Uint8Array, at: number, length: number): boolean {
  const ip = at + 14;
  if (length < 34 || get16(b, at + 12) !== ETHERTYPE_IPV4) return false;
  const ihl = (b[ip]! & 0x0f) * 4;
  if (onesComplementSum(b, ip, ip + ihl) !== 0xffff) return false;
  const total = get16(b, ip + 2);
  const l4 = ip + ihl;
  const l4Bytes = total - ihl;
  if (l4 + l4Bytes > at + length) return false;
  const proto = b[ip + 9]!;
  if (proto === 17 && get16(b, l4 + 6) === 0) return true;
  if (proto !== 17 && proto !== 6) return true;
  return onesComplementSum(b, l4, l4 + l4Bytes, onesComplementSum(b, ip + 12, ip + 20, proto + l4Bytes)) === 0xffff;
}

export interface ReceivedUdp {
  readonly srcIp: number;
  readonly srcMac: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
  /** The frame came with a partial checksum (FrameFlag.csumPartial). */
  readonly partial: boolean;
  /** Its checksums verified (after completing a partial one). */
  readonly checksumOk: boolean;
}

/** Polls `check` every `stepMs` until it holds or `timeoutMs` passes; resolves with the last result. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

const TX_FRAMES = 256;
const TX_SLOT = 2048;

export class FakeHost {
  /** `count` of every batch the link delivered. */
  readonly batchSizes: number[] = [];
  readonly received: ReceivedUdp[] = [];
  /** IPv4 address → MAC, learned from ARP (or set by the test). */
  readonly neighbours = new Map<number, string>();
  arpRepliesSent = 0;
  /** Datagrams to this UDP port are sent back to their sender in place, from the receive buffer. */
  echoPort = -1;
  echoed = 0;
  private readonly tx = createFrameBatch(TX_FRAMES, new Uint8Array(TX_FRAMES * TX_SLOT));
  private readonly echo = createFrameBatch(TX_FRAMES);
  private readonly scratch = new Uint8Array(65_536);

  constructor(readonly link: Link, readonly mac: Uint8Array, readonly ip: number) {}

  start(): void {
    this.link.start((batch) => this.onBatch(batch));
  }

  /** Datagrams received on `port`. */
  udpTo(port: number): ReceivedUdp[] {
    return this.received.filter((d) => d.dstPort === port);
  }

  /** Resolves `ip` to a MAC by ARP (requests every 200 ms), or null after `timeoutMs`. */
  async resolve(ip: number, timeoutMs: number): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const known = this.neighbours.get(ip);
      if (known) return known;
      this.tx.count = 0;
      pushFrame(this.tx, 0, buildArp(this.tx.buffer, 0, 1, this.mac, this.ip, BROADCAST, ip));
      this.link.writeBatch(this.tx);
      this.tx.count = 0;
      await waitUntil(() => this.neighbours.has(ip), 200);
    }
    return this.neighbours.get(ip) ?? null;
  }

  /**
   * Sends `count` (≤ 256) UDP datagrams of `payloadBytes` (sequence numbers from `firstSeq`)
   * in one writeBatch; `partial` 'all', 'none' or 'alternate' says which carry a partial
   * checksum. Returns what writeBatch returned.
   */
  sendUdp(dstMac: Uint8Array, dstIp: number, srcPort: number, dstPort: number, count: number, payloadBytes: number,
    partial: 'all' | 'none' | 'alternate', firstSeq = 0): number {
    const tx = this.tx;
    tx.count = 0;
    const spec: UdpSpec = { srcMac: this.mac, dstMac, srcIp: this.ip, dstIp, srcPort, dstPort };
    for (let i = 0; i < Math.min(count, TX_FRAMES); i++) {
      const p = partial === 'all' || (partial === 'alternate' && i % 2 === 1);
      const at = i * TX_SLOT;
      pushFrame(tx, at, buildUdp(tx.buffer, at, spec, firstSeq + i, payloadBytes, p));
      if (p) {
        tx.flags[i] = FrameFlag.csumPartial;
        tx.csumStart[i] = 34;
        tx.csumOffset[i] = 6;
      }
    }
    const written = this.link.writeBatch(tx);
    tx.count = 0;
    return written;
  }

  private onBatch(batch: FrameBatch): void {
    this.batchSizes.push(batch.count);
    const buf = batch.buffer;
    const echo = this.echo;
    echo.buffer = buf;
    echo.count = 0;
    this.tx.count = 0;
    for (let i = 0; i < batch.count; i++) {
      const at = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      if (len < 14) continue;
      const type = get16(buf, at + 12);
      if (type === ETHERTYPE_ARP && len >= 42) this.onArp(buf, at + 14);
      else if (type === ETHERTYPE_IPV4 && len >= 42 && buf[at + 23] === 17 && get32(buf, at + 30) === this.ip) {
        if (this.onUdp(batch, i) && this.echoPort === get16(buf, at + 36)) {
          swapForEcho(buf, at);
          pushFrameFrom(echo, at, len, batch, i);
        }
      }
    }
    if (echo.count > 0) this.echoed += this.link.writeBatch(echo);
    if (this.tx.count > 0) this.link.writeBatch(this.tx);
    this.tx.count = 0;
  }

  private onArp(buf: Uint8Array, p: number): void {
    const op = get16(buf, p + 6);
    const senderIp = get32(buf, p + 14);
    if (senderIp !== 0) this.neighbours.set(senderIp, formatMac(buf, p + 8));
    if (op === 1 && get32(buf, p + 24) === this.ip) {
      const tx = this.tx;
      const at = tx.count * TX_SLOT;
      if (pushFrame(tx, at, buildArp(tx.buffer, at, 2, this.mac, this.ip, buf.slice(p + 8, p + 14), senderIp))) this.arpRepliesSent++;
    }
  }

  /** Records a UDP datagram to us; true when it is well formed. */
  private onUdp(batch: FrameBatch, i: number): boolean {
    const buf = batch.buffer;
    const at = batch.offsets[i]!;
    const len = batch.lengths[i]!;
    const flags = batch.flags[i]!;
    const ip = at + 14;
    const ihl = (buf[ip]! & 0x0f) * 4;
    const udp = ip + ihl;
    if (udp + 8 > at + len) return false;
    const udpLen = get16(buf, udp + 4);
    if (udpLen < 8 || udp + udpLen > at + len) return false;
    const partial = (flags & FrameFlag.csumPartial) !== 0;
    let ok: boolean;
    if (partial) {
      const copy = this.scratch;
      copy.set(buf.subarray(at, at + len), 0);
      ok = completeChecksum(copy, 0, len, batch.csumStart[i]!, batch.csumOffset[i]!) && checksumsValid(copy, 0, len);
    } else {
      ok = checksumsValid(buf, at, len);
    }
    this.received.push({
      srcIp: get32(buf, ip + 12),
      srcMac: formatMac(buf, at + 6),
      srcPort: get16(buf, udp),
      dstPort: get16(buf, udp + 2),
      payload: buf.slice(udp + 8, udp + udpLen),
      partial,
      checksumOk: ok,
    });
    return true;
  }
}

/**
 * Turns a received IPv4/UDP frame into its reply in place: swaps MACs, addresses and
 * ports. Both checksums stay valid (and a partial one stays right): sums do not depend
 * on the order of the words they add.
 */
function swapForEcho(b: Uint8Array, at: number): void {
  const ip = at + 14;
  const udp = ip + (b[ip]! & 0x0f) * 4;
  for (let k = 0; k < 6; k++) {
    const t = b[at + k]!;
    b[at + k] = b[at + 6 + k]!;
    b[at + 6 + k] = t;
  }
  for (let k = 0; k < 4; k++) {
    const t = b[ip + 12 + k]!;
    b[ip + 12 + k] = b[ip + 16 + k]!;
    b[ip + 16 + k] = t;
  }
  for (let k = 0; k < 2; k++) {
    const t = b[udp + k]!;
    b[udp + k] = b[udp + 2 + k]!;
    b[udp + 2 + k] = t;
  }
}
