/**
 * The translation table: dynamic flows of TCP, UDP and ICMP queries, the external
 * ports they hold, and the static port mappings the IGD creates.
 *
 * Contract (after tailscale natlab): no concurrency, no real time (every call that
 * changes state takes `nowMs`), static port mappings are looked up before dynamic
 * flows, and anything unmatched is dropped with a reason.
 *
 * Storage is struct-of-arrays in typed arrays with open addressing, so a flow costs
 * a fixed number of bytes and nothing is allocated per packet:
 *  - flows: protocol, TCP state, internal/remote endpoints, external port, expiry, and
 *    a held-until time (PCP PEER: the flow outlives its idle timer until then); a held
 *    flow's owner tag (the PEER's nonce) sits in a small map beside them, by flow slot;
 *  - `outIndex`: (proto, internal addr:port, remote addr:port) → flow;
 *  - `inIndex`: (proto, external port, remote addr) → first flow of a chain linked by
 *    `inNext` (the chain is the flows of that remote address on that port; a
 *    port-dependent lookup walks it, an address-dependent filter only needs its head);
 *  - per (proto, external port): the internal endpoint that owns it and how many flows
 *    use it. A port has one owner at a time, so a port is never overloaded (RFC 4787
 *    REQ-3); a binding (RFC 4787 "mapping") is an owned port;
 *  - `bindIndex`: (proto, internal addr:port [, remote addr]) → external port, for
 *    endpoint-independent and address-dependent mapping.
 * Deletion in the linear-probing indexes shifts entries back (no tombstones), so
 * lookups stay short after any churn. The indexes have twice the capacity in slots
 * (load ≤ 50 %): ≈ 58 bytes per flow in all at 1,000,000 flows.
 *
 * Choices the RFCs leave open, made here:
 *  - UDP mappings are refreshed by outbound (RFC 4787 REQ-6: MUST) and by inbound
 *    traffic (MAY), so a host that mostly receives keeps its mapping;
 *  - TCP: a SYN each way (a SYN-ACK counts as both) → established timeout; RST, or a
 *    FIN each way → transitory (RFC 5382 REQ-5); a lone FIN keeps the established
 *    timeout, as a half-closed connection may still carry data;
 *  - a change of external address flushes every dynamic flow (their address on the
 *    wire is gone, and a mapping kept would silently point at nothing); port mappings
 *    name no address and follow the new one.
 *
 * It must not: do I/O, read a clock, keep timers, allocate per packet, throw on bad
 * input (drops come back as a verdict with a reason), or overwrite a live flow.
 */
import type { NatConfig } from './config.js';
import { prefixMask } from '../wire/addr.js';
import { ExpiryWheel } from './expiry-wheel.js';

export const IP_PROTOCOL = { icmp: 1, tcp: 6, udp: 17 } as const;
export type IpProtocol = (typeof IP_PROTOCOL)[keyof typeof IP_PROTOCOL];

export const VERDICT = { forward: 0, hairpin: 1, drop: 2 } as const;
export type Verdict = (typeof VERDICT)[keyof typeof VERDICT];

export const DROP_REASONS = [
  'no-mapping', 'filtered', 'mapping-disabled', 'hairpin-disabled', 'table-full', 'ports-exhausted', 'no-external-address',
  'unsupported-protocol', 'client-flow-limit',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** TCP header flag bits as in the flags byte. */
const FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10;
/** Flow TCP state bits. */
const S_SYN_OUT = 1, S_SYN_IN = 2, S_FIN_OUT = 4, S_FIN_IN = 8, S_RST = 16;

const EMPTY = -1;
const PORTS = 65536;
/** Flows `expire` looks at per call at most (the daemon calls it once a second). */
const EXPIRY_BUDGET = 50_000;

/** Protocol → index into per-protocol port arrays. */
function protoIndex(proto: number): number {
  return proto === 6 ? 0 : proto === 17 ? 1 : proto === 1 ? 2 : -1;
}

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hash5(a: number, b: number, c: number, d: number, e: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ b;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ c;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) ^ d;
  h = Math.imul(h ^ (h >>> 15), 0x9e3779b1) ^ e;
  return mix(h);
}

function pow2AtLeast(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

/** A port mapping as the NAT sees it. Addresses are u32; `remoteHost` 0 = any. */
export interface NatPortMapping {
  readonly protocol: 6 | 17;
  readonly externalPort: number;
  readonly remoteHost: number;
  readonly internalClient: number;
  readonly internalPort: number;
  readonly enabled: boolean;
  readonly description?: string;
  /**
   * Remote peers allowed in (PCP FILTER, RFC 6887 §13.3); absent or empty: every peer.
   * A packet from anyone else is dropped as 'filtered'.
   */
  readonly filters?: readonly NatRemoteFilter[];
}

/** `address`/`prefixLength` (0–32) and `port` (0: any) of the remote peers a mapping admits. */
export interface NatRemoteFilter {
  readonly address: number;
  readonly prefixLength: number;
  readonly port: number;
}

/** Most filters one mapping may hold. */
export const MAX_NAT_FILTERS = 64;

/** Whether a filter set admits a packet from `addr:port` (an empty set admits everyone). */
export function filtersAdmit(filters: readonly NatRemoteFilter[] | undefined, addr: number, port: number): boolean {
  if (filters === undefined || filters.length === 0) return true;
  for (const f of filters) {
    const mask = prefixMask(f.prefixLength);
    if (((addr & mask) >>> 0) === ((f.address & mask) >>> 0) && (f.port === 0 || f.port === port)) return true;
  }
  return false;
}

export type PortMappingResult =
  | { ok: true; replaced: boolean }
  | { ok: false; reason: 'conflict' | 'invalid'; problem: string };

export interface FlowInfo {
  readonly protocol: number;
  readonly internalAddr: number;
  readonly internalPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly externalAddr: number;
  readonly externalPort: number;
  readonly expiresMs: number;
  /** TCP only. `half-closed`: a FIN one way (still the established timeout); `closing`: FIN both ways. */
  readonly tcpState?: 'syn-sent' | 'syn-received' | 'established' | 'half-closed' | 'closing' | 'reset';
}

export type TcpStateName = NonNullable<FlowInfo['tcpState']>;

/** The TCP states a flow may be in, in the order a connection goes through them. */
export const TCP_STATE_NAMES: readonly TcpStateName[] = ['syn-sent', 'syn-received', 'established', 'half-closed', 'closing', 'reset'];

/** Which flows `NatTable.query` returns; an absent field matches every flow. */
export interface FlowFilter {
  /** 6, 17 or 1. */
  readonly protocol?: number;
  /** Matches the internal, remote or external address. */
  readonly addr?: number;
  /** Matches the internal, remote or external port (ICMP: the identifier). */
  readonly port?: number;
  /** TCP flows in this state only. */
  readonly tcpState?: TcpStateName;
}

/**
 * What `openFlow` did: the flow's external endpoint and when it expires at the earliest
 * (its idle timer or its hold, whichever is later), or why no flow could be made.
 */
export type OpenFlowResult =
  | { readonly ok: true; readonly created: boolean; readonly externalAddr: number; readonly externalPort: number; readonly expiresMs: number }
  | { readonly ok: false; readonly reason: DropReason }
  | HeldByOther;

/** The flow is held (until `holdUntilMs`) under another tag: its hold is not this caller's to change. */
export interface HeldByOther {
  readonly ok: false;
  readonly reason: 'held-by-other';
  readonly holdUntilMs: number;
}

/** How `openFlow` holds a flow: whose hold it is, and the external port wished for a new one. */
export interface FlowHoldOptions {
  /**
   * Who holds it (PCP: the PEER's mapping nonce). While the hold lasts, only the same tag
   * may extend or end it. '' (the default): an untagged hold, which any caller may change.
   */
  readonly tag?: string;
  /**
   * For a flow that does not exist yet and needs a new binding: this external port when it
   * is free and in the internal port's class (else the allocator's choice). 0: no wish.
   */
  readonly suggestedPort?: number;
}

/** What `endHold` did: nothing (no such flow), the flow's endpoint and idle expiry, or a refusal. */
export type EndHoldResult =
  | { readonly ok: true; readonly found: false }
  | { readonly ok: true; readonly found: true; readonly externalAddr: number; readonly externalPort: number; readonly expiresMs: number }
  | HeldByOther;

/** Where a translation's results land; reused for every call (no allocation). */
export interface TranslationResult {
  /** Outbound: the new source; inbound: the new destination; hairpin: the new source. */
  addr: number;
  port: number;
  /** Hairpin only: the new destination. */
  addr2: number;
  port2: number;
  /** Set when the verdict is drop. */
  reason: DropReason;
}

export interface NatCounters {
  flowsCreated: number;
  flowsExpired: number;
  flowsFlushed: number;
  translatedOutbound: number;
  translatedInbound: number;
  hairpinned: number;
  drops: Record<DropReason, number>;
}

/** A broken invariant of the table is a bug, not bad input: it throws, never drops (see docs/decisions.md). */
function brokenInvariant(what: string): never {
  throw new Error(`nat-table invariant broken: ${what}`);
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;

/** Why a port mapping cannot be stored, or null when it can. */
function invalidMapping(m: NatPortMapping): string | null {
  if (typeof m !== 'object' || m === null) return 'not a mapping';
  if (m.protocol !== 6 && m.protocol !== 17) return 'protocol must be 6 (TCP) or 17 (UDP)';
  if (!isPort(m.externalPort)) return 'externalPort must be an integer 1-65535';
  if (!isPort(m.internalPort)) return 'internalPort must be an integer 1-65535';
  if (!isU32(m.remoteHost)) return 'remoteHost must be an IPv4 address as an unsigned 32-bit integer (0 = any)';
  if (!isU32(m.internalClient) || m.internalClient === 0) return 'internalClient must be a non-zero IPv4 address as an unsigned 32-bit integer';
  if (typeof m.enabled !== 'boolean') return 'enabled must be true or false';
  if (m.description !== undefined && typeof m.description !== 'string') return 'description must be a string';
  if (m.filters !== undefined && (!Array.isArray(m.filters) || m.filters.length > MAX_NAT_FILTERS
    || !m.filters.every((f) => isU32(f.address) && Number.isInteger(f.prefixLength) && f.prefixLength >= 0 && f.prefixLength <= 32
      && Number.isInteger(f.port) && f.port >= 0 && f.port <= 65535))) {
    return `filters must be at most ${MAX_NAT_FILTERS} of { address: u32, prefixLength: 0-32, port: 0-65535 }`;
  }
  return null;
}

export class NatTable {
  readonly config: NatConfig;
  readonly capacity: number;
  readonly result: TranslationResult = { addr: 0, port: 0, addr2: 0, port2: 0, reason: 'no-mapping' };
  readonly counters: NatCounters;
  private externalAddr = 0;

  // Flows (struct of arrays). A free slot keeps the next free slot in `fInNext`.
  private readonly fProto: Uint8Array;
  private readonly fState: Uint8Array;
  private readonly fIntAddr: Uint32Array;
  private readonly fRemAddr: Uint32Array;
  private readonly fIntPort: Uint16Array;
  private readonly fRemPort: Uint16Array;
  private readonly fExtPort: Uint16Array;
  private readonly fExpires: Float64Array;
  /** Not removed before this time, whatever its idle timer says (0: no hold). Only `expire` reads it. */
  private readonly fHeld: Float64Array;
  /**
   * The tag of each tagged hold, by flow slot (FlowHoldOptions.tag). Only flows held with a
   * tag have an entry, removed with the flow: it never outgrows the live flows.
   */
  private readonly holdTags = new Map<number, string>();
  private readonly fInNext: Int32Array;
  /** Every live flow, filed by when its timer ends: `expire` visits only what is due. */
  private readonly wheel: ExpiryWheel;
  private readonly visitDue = (f: number): void => this.expireOrRefile(f);
  private sweepNowMs = 0;
  private sweepRemoved = 0;
  private freeHead = EMPTY;
  private highWater = 0;
  private live = 0;
  /** Live flows per internal address, kept only with `maxFlowsPerClient` (changes at flow creation and removal, never per packet). */
  private readonly perClient: Map<number, number> | null;

  private readonly outIndex: Int32Array;
  private readonly inIndex: Int32Array;
  private readonly outMask: number;

  // Per (protocol index × 65536 + external port).
  private readonly pOwnerAddr = new Uint32Array(3 * PORTS);
  private readonly pOwnerPort = new Uint16Array(3 * PORTS);
  private readonly pOwnerRem = new Uint32Array(3 * PORTS);
  private readonly pRefs = new Int32Array(3 * PORTS);
  private readonly pMapped = new Int32Array(3 * PORTS);
  private readonly bindIndex: Int32Array;
  private readonly bindMask: number;
  private readonly cursor = new Int32Array(6);

  // Port mappings: by (protoIndex << 16 | externalPort), and by internal endpoint.
  private readonly mappings = new Map<number, NatPortMapping[]>();
  private readonly mappingsByInternal = new Map<number, NatPortMapping[]>();

  constructor(config: NatConfig) {
    this.config = config;
    const cap = config.capacity;
    this.capacity = cap;
    this.fProto = new Uint8Array(cap);
    this.fState = new Uint8Array(cap);
    this.fIntAddr = new Uint32Array(cap);
    this.fRemAddr = new Uint32Array(cap);
    this.fIntPort = new Uint16Array(cap);
    this.fRemPort = new Uint16Array(cap);
    this.fExtPort = new Uint16Array(cap);
    this.fExpires = new Float64Array(cap);
    this.fHeld = new Float64Array(cap);
    this.fInNext = new Int32Array(cap);
    this.wheel = new ExpiryWheel(cap);
    const slots = pow2AtLeast(cap * 2);
    this.outIndex = new Int32Array(slots).fill(EMPTY);
    this.inIndex = new Int32Array(slots).fill(EMPTY);
    this.outMask = slots - 1;
    const bslots = pow2AtLeast(Math.min(cap, 3 * PORTS) * 2);
    this.bindIndex = new Int32Array(bslots).fill(EMPTY);
    this.bindMask = bslots - 1;
    for (let i = 0; i < 6; i++) this.cursor[i] = -1;
    this.perClient = config.maxFlowsPerClient > 0 ? new Map() : null;
    this.counters = {
      flowsCreated: 0, flowsExpired: 0, flowsFlushed: 0, translatedOutbound: 0, translatedInbound: 0, hairpinned: 0,
      drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    };
  }

  /** Live dynamic flows. */
  get size(): number {
    return this.live;
  }

  get externalAddress(): number {
    return this.externalAddr;
  }

  /**
   * Sets the external address. Dynamic flows name the old address on the wire, so
   * they are flushed (and returned); port mappings name no address and follow it.
   */
  setExternalAddress(addr: number): FlowInfo[] {
    const a = addr >>> 0;
    if (a === this.externalAddr) return [];
    const flushed: FlowInfo[] = [];
    for (let f = 0; f < this.highWater; f++) {
      if (this.fProto[f] === 0) continue;
      flushed.push(this.info(f));
      this.removeFlow(f);
      this.counters.flowsFlushed++;
    }
    this.externalAddr = a;
    return flushed;
  }

  // ---------------------------------------------------------------- translation

  /**
   * A packet from the LAN: `srcAddr:srcPort` inside → `dstAddr:dstPort`. For ICMP
   * queries the ports are the identifier and 0. Finds or creates the flow; on forward
   * `result.addr/port` is the new source. When the destination is our external
   * address the packet hairpins (RFC 4787 REQ-9): `result.addr2/port2` is then the
   * internal destination, and filtering applies as for any inbound packet.
   * Addresses are unsigned 32-bit and ports 16-bit (as read from headers); other
   * numbers are reduced to those widths, never thrown on. `tcpFlags` is the TCP
   * header's flags byte (0 for UDP and ICMP). `result` belongs to the table and is
   * overwritten by the next call.
   */
  outbound(proto: number, srcAddr: number, srcPort: number, dstAddr: number, dstPort: number, tcpFlags: number, nowMs: number): Verdict {
    srcAddr >>>= 0; dstAddr >>>= 0; srcPort &= 0xffff; dstPort &= 0xffff;
    const pi = protoIndex(proto);
    if (pi < 0) return this.drop('unsupported-protocol');
    if (this.externalAddr === 0) return this.drop('no-external-address');
    const hairpin = dstAddr === this.externalAddr;
    if (hairpin && !this.config.hairpinning) return this.drop('hairpin-disabled');
    let f = this.findOut(proto, srcAddr, srcPort, dstAddr, dstPort);
    if (f === EMPTY) {
      f = this.createFlow(proto, pi, srcAddr, srcPort, dstAddr, dstPort, nowMs);
      if (f === EMPTY) return this.drop(this.result.reason);
    }
    this.touch(f, tcpFlags, true, nowMs);
    const extPort = this.fExtPort[f]!;
    if (!hairpin) {
      this.result.addr = this.externalAddr;
      this.result.port = extPort;
      this.counters.translatedOutbound++;
      return VERDICT.forward;
    }
    const v = this.inbound(proto, this.externalAddr, extPort, dstPort, tcpFlags, nowMs);
    if (v !== VERDICT.forward) return v;
    this.result.addr2 = this.result.addr;
    this.result.port2 = this.result.port;
    this.result.addr = this.externalAddr;
    this.result.port = extPort;
    this.counters.hairpinned++;
    return VERDICT.hairpin;
  }

  /**
   * A packet from the WAN: `srcAddr:srcPort` outside → our `dstPort`. Port mappings
   * first (a remote-specific one before a wildcard; a disabled one forwards nothing),
   * then dynamic flows under the configured filtering. On forward `result.addr/port`
   * is the new (internal) destination.
   */
  inbound(proto: number, srcAddr: number, srcPort: number, dstPort: number, tcpFlags: number, nowMs: number): Verdict {
    srcAddr >>>= 0; srcPort &= 0xffff; dstPort &= 0xffff;
    const pi = protoIndex(proto);
    if (pi < 0) return this.drop('unsupported-protocol');
    if (pi !== 2 && this.pMapped[pi * PORTS + dstPort]! > 0) {
      const m = this.matchMapping(pi, dstPort, srcAddr);
      // A peer the mapping's filters keep out gets only what a flow of the host's own lets in.
      const filteredOut = m !== null && m.filters !== undefined && !filtersAdmit(m.filters, srcAddr, srcPort);
      if (filteredOut && this.findIn(proto, dstPort, srcAddr, srcPort) === EMPTY) return this.drop('filtered');
      if (m && !filteredOut) {
        if (!m.enabled) return this.drop('mapping-disabled');
        // Replies to flows the mapped host opened itself also refresh those flows.
        const f = this.findIn(proto, dstPort, srcAddr, srcPort);
        if (f !== EMPTY) this.touch(f, tcpFlags, false, nowMs);
        this.result.addr = m.internalClient;
        this.result.port = m.internalPort;
        this.counters.translatedInbound++;
        return VERDICT.forward;
      }
    }
    const head = this.inIndex[this.inSlot(proto, dstPort, srcAddr)]!;
    let f = head;
    while (f !== EMPTY && this.fRemPort[f] !== srcPort) f = this.fInNext[f]!;
    if (f !== EMPTY) {
      this.touch(f, tcpFlags, false, nowMs);
      this.result.addr = this.fIntAddr[f]!;
      this.result.port = this.fIntPort[f]!;
      this.counters.translatedInbound++;
      return VERDICT.forward;
    }
    const slot = pi * PORTS + dstPort;
    if (this.pRefs[slot] === 0) return this.drop('no-mapping');
    const filtering = this.config.filtering;
    const allowed = filtering === 'endpoint-independent' || (filtering === 'address-dependent' && head !== EMPTY);
    if (!allowed) return this.drop('filtered');
    this.result.addr = this.pOwnerAddr[slot]!;
    this.result.port = this.pOwnerPort[slot]!;
    this.counters.translatedInbound++;
    return VERDICT.forward;
  }

  /**
   * Looks up, without creating or refreshing anything, the flow a packet from the WAN
   * belongs to (RFC 5508: for the packet quoted in an ICMP error). On success `result`
   * holds the internal endpoint.
   */
  peekInbound(proto: number, remoteAddr: number, remotePort: number, externalPort: number): boolean {
    remoteAddr >>>= 0; remotePort &= 0xffff; externalPort &= 0xffff;
    let f = this.inIndex[this.inSlot(proto, externalPort, remoteAddr)]!;
    while (f !== EMPTY && this.fRemPort[f] !== remotePort) f = this.fInNext[f]!;
    if (f === EMPTY) return false;
    this.result.addr = this.fIntAddr[f]!;
    this.result.port = this.fIntPort[f]!;
    return true;
  }

  /** Like `peekInbound` for a packet from the LAN; `result` holds the external endpoint. */
  peekOutbound(proto: number, internalAddr: number, internalPort: number, remoteAddr: number, remotePort: number): boolean {
    internalAddr >>>= 0; remoteAddr >>>= 0; internalPort &= 0xffff; remotePort &= 0xffff;
    const f = this.findOut(proto, internalAddr, internalPort, remoteAddr, remotePort);
    if (f === EMPTY) return false;
    this.result.addr = this.externalAddr;
    this.result.port = this.fExtPort[f]!;
    return true;
  }

  // ---------------------------------------------------------------- control plane

  /**
   * PCP PEER (RFC 6887 §12): finds the outbound flow (proto, internal addr:port → remote
   * addr:port), or creates it as the first outbound packet would — the same external port
   * under the configured mapping behaviour, an enabled wildcard port mapping of the
   * endpoint first — and holds it: `expire` leaves it until `holdUntilMs` even when idle
   * (it then lives until the later of that and its idle timer; 0 drops the hold). An
   * existing flow's idle timer is not refreshed: no packet went through. Counts no packet
   * and no drop. TCP and UDP only.
   *
   * `hold.tag` owns the hold: a flow still held (hold time after `nowMs`) under another tag
   * is refused ('held-by-other') and left as it was. A flow whose hold is over, or that
   * traffic made, takes the new tag. `hold.suggestedPort` is honoured only where the first
   * packet would get a new binding anyway and that port is free: an existing flow keeps
   * its port, and a wildcard port mapping or an existing binding (endpoint-independent or
   * address-dependent mapping) decide the port as they would for traffic.
   */
  openFlow(proto: number, internalAddr: number, internalPort: number, remoteAddr: number, remotePort: number,
    nowMs: number, holdUntilMs: number, hold: FlowHoldOptions = {}): OpenFlowResult {
    internalAddr >>>= 0; remoteAddr >>>= 0; internalPort &= 0xffff; remotePort &= 0xffff;
    const pi = protoIndex(proto);
    if (pi < 0 || pi === 2) return { ok: false, reason: 'unsupported-protocol' };
    if (this.externalAddr === 0) return { ok: false, reason: 'no-external-address' };
    if (remoteAddr === this.externalAddr && !this.config.hairpinning) return { ok: false, reason: 'hairpin-disabled' };
    const tag = hold.tag ?? '';
    let f = this.findOut(proto, internalAddr, internalPort, remoteAddr, remotePort);
    const created = f === EMPTY;
    if (created) {
      f = this.createFlow(proto, pi, internalAddr, internalPort, remoteAddr, remotePort, nowMs, hold.suggestedPort ?? 0);
      if (f === EMPTY) return { ok: false, reason: this.result.reason };
      this.touch(f, 0, true, nowMs);
    } else if (this.heldByOther(f, tag, nowMs)) {
      return { ok: false, reason: 'held-by-other', holdUntilMs: this.fHeld[f]! };
    }
    this.fHeld[f] = holdUntilMs;
    if (tag === '' || holdUntilMs === 0) this.dropTag(f);
    else this.holdTags.set(f, tag);
    this.wheel.scheduleIfSooner(f, this.expiresAt(f));
    return { ok: true, created, externalAddr: this.externalAddr, externalPort: this.fExtPort[f]!, expiresMs: this.expiresAt(f) };
  }

  /**
   * Ends the hold `openFlow` put on a flow (PCP PEER with lifetime 0): the flow stays and
   * then lives by its idle timer alone, as a flow traffic made would (if that timer has
   * run out, the next `expire` removes it). A flow still held under another tag is
   * refused and left as it was; no such flow is `found: false`. Creates nothing.
   */
  endHold(proto: number, internalAddr: number, internalPort: number, remoteAddr: number, remotePort: number,
    nowMs: number, tag: string): EndHoldResult {
    internalAddr >>>= 0; remoteAddr >>>= 0; internalPort &= 0xffff; remotePort &= 0xffff;
    const f = protoIndex(proto) < 0 ? EMPTY : this.findOut(proto, internalAddr, internalPort, remoteAddr, remotePort);
    if (f === EMPTY) return { ok: true, found: false };
    if (this.heldByOther(f, tag, nowMs)) return { ok: false, reason: 'held-by-other', holdUntilMs: this.fHeld[f]! };
    this.fHeld[f] = 0;
    this.dropTag(f);
    this.wheel.scheduleIfSooner(f, this.expiresAt(f));
    return { ok: true, found: true, externalAddr: this.externalAddr, externalPort: this.fExtPort[f]!, expiresMs: this.expiresAt(f) };
  }

  /** Whether flow `f` is held past `nowMs` under a tag other than `tag`. */
  private heldByOther(f: number, tag: string, nowMs: number): boolean {
    if (!(this.fHeld[f]! > nowMs)) return false;
    const owner = this.holdTags.get(f);
    return owner !== undefined && owner !== tag;
  }

  private dropTag(f: number): void {
    if (this.holdTags.size !== 0) this.holdTags.delete(f);
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Removes flows that timed out by `nowMs` and are not held past it (`openFlow`);
   * returns how many. The work is bounded: it looks only at flows whose filed second has
   * come (see ExpiryWheel), at most `budget` of them; the rest wait for the next call.
   * Port mappings have no lease here: the control plane removes them.
   */
  expire(nowMs: number, budget = EXPIRY_BUDGET): number {
    this.sweepNowMs = nowMs;
    this.sweepRemoved = 0;
    this.wheel.sweep(nowMs, budget, this.visitDue);
    return this.sweepRemoved;
  }

  // ---------------------------------------------------------------- port mappings

  /**
   * Adds a port mapping, or replaces the one with the same (protocol, external port,
   * remote host) when it names the same internal client; another client → conflict.
   * (The IGD applies the spec's overwrite rule before it gets here; this keeps the NAT
   * consistent on its own.) An external port held by live flows of another internal
   * endpoint is a conflict too — ports are never overloaded (RFC 4787 REQ-3) — unless
   * that endpoint is the one of the mapping being replaced (re-pointing a mapping
   * takes its port with it). The table keeps its own copy of `m`; it holds it until
   * removePortMapping (leases are the control plane's).
   */
  addPortMapping(m: NatPortMapping): PortMappingResult {
    const problem = invalidMapping(m);
    if (problem !== null) return { ok: false, reason: 'invalid', problem };
    const pi = protoIndex(m.protocol);
    const key = (pi << 16) | m.externalPort;
    const list = this.mappings.get(key) ?? [];
    const same = list.findIndex((x) => x.remoteHost === m.remoteHost);
    const old = same >= 0 ? list[same]! : null;
    if (old && old.internalClient !== m.internalClient) {
      return { ok: false, reason: 'conflict', problem: 'the external port is mapped to another internal client' };
    }
    const slot = pi * PORTS + m.externalPort;
    if (this.pRefs[slot]! > 0) {
      const owner = (a: number, p: number) => this.pOwnerAddr[slot] === a && this.pOwnerPort[slot] === p;
      if (!owner(m.internalClient, m.internalPort) && !(old && owner(old.internalClient, old.internalPort))) {
        return { ok: false, reason: 'conflict', problem: 'the external port is in use by another internal endpoint' };
      }
    }
    const entry: NatPortMapping = {
      protocol: m.protocol, externalPort: m.externalPort, remoteHost: m.remoteHost, internalClient: m.internalClient,
      internalPort: m.internalPort, enabled: m.enabled,
      ...(m.description !== undefined ? { description: m.description } : {}),
      ...(m.filters !== undefined && m.filters.length > 0 ? { filters: m.filters.map((f) => ({ ...f })) } : {}),
    };
    if (old) {
      this.unindexInternal(old);
      list[same] = entry;
    } else {
      list.push(entry);
      this.pMapped[slot]!++;
    }
    // Remote-specific mappings before wildcard ones (stable sort keeps insertion order within each).
    list.sort((a, b) => (a.remoteHost === 0 ? 1 : 0) - (b.remoteHost === 0 ? 1 : 0));
    this.mappings.set(key, list);
    const ik = this.internalKey(pi, m.internalClient, m.internalPort);
    const byInt = this.mappingsByInternal.get(ik) ?? [];
    byInt.push(entry);
    this.mappingsByInternal.set(ik, byInt);
    return { ok: true, replaced: old !== null };
  }

  /**
   * Removes a port mapping; returns it, or null when there was none. Flows the mapped
   * host opened through its port keep that port until they end.
   */
  removePortMapping(protocol: number, externalPort: number, remoteHost: number): NatPortMapping | null {
    const pi = protoIndex(protocol);
    if (pi < 0 || pi === 2) return null;
    const key = (pi << 16) | externalPort;
    const list = this.mappings.get(key);
    const i = list ? list.findIndex((x) => x.remoteHost === remoteHost) : -1;
    if (!list || i < 0) return null;
    const m = list[i]!;
    list.splice(i, 1);
    if (list.length === 0) this.mappings.delete(key);
    this.pMapped[pi * PORTS + externalPort]!--;
    this.unindexInternal(m);
    return m;
  }

  getPortMapping(protocol: number, externalPort: number, remoteHost: number): NatPortMapping | null {
    const pi = protoIndex(protocol);
    return this.mappings.get((pi << 16) | externalPort)?.find((x) => x.remoteHost === remoteHost) ?? null;
  }

  /**
   * True when an enabled port mapping has `internalAddr:internalPort` as its internal side
   * and admits `remoteAddr` (a wildcard remote host, or that one): traffic from that
   * endpoint to that remote is the mapped service's own.
   */
  isMappedEndpoint(protocol: number, internalAddr: number, internalPort: number, remoteAddr: number): boolean {
    const pi = protoIndex(protocol);
    if (pi < 0 || pi === 2) return false;
    const list = this.mappingsByInternal.get(this.internalKey(pi, internalAddr >>> 0, internalPort & 0xffff));
    return list?.some((m) => m.enabled && (m.remoteHost === 0 || m.remoteHost === remoteAddr >>> 0)) ?? false;
  }

  listPortMappings(): NatPortMapping[] {
    return [...this.mappings.values()].flat();
  }

  // ---------------------------------------------------------------- observability

  /** The live flows (allocates; for the admin API, not the packet path). */
  snapshot(limit = Infinity): FlowInfo[] {
    const out: FlowInfo[] = [];
    for (let f = 0; f < this.highWater && out.length < limit; f++) if (this.fProto[f] !== 0) out.push(this.info(f));
    return out;
  }

  /**
   * One page of the live flows that match `filter`: walks the table once, counting every
   * match and building FlowInfo only for matches `offset` to `offset + limit - 1` (so a
   * million flows cost a walk, not a million objects). For the admin API, not the packet path.
   */
  query(filter: FlowFilter, offset: number, limit: number): { total: number; flows: FlowInfo[] } {
    const flows: FlowInfo[] = [];
    const addr = filter.addr === undefined ? -1 : filter.addr >>> 0;
    const port = filter.port ?? -1;
    let total = 0;
    for (let f = 0; f < this.highWater; f++) {
      const proto = this.fProto[f]!;
      if (proto === 0 || (filter.protocol !== undefined && proto !== filter.protocol)) continue;
      if (addr >= 0 && this.fIntAddr[f] !== addr && this.fRemAddr[f] !== addr && this.externalAddr !== addr) continue;
      if (port >= 0 && this.fIntPort[f] !== port && this.fRemPort[f] !== port && this.fExtPort[f] !== port) continue;
      if (filter.tcpState !== undefined && (proto !== 6 || tcpStateName(this.fState[f]!) !== filter.tcpState)) continue;
      if (total >= offset && flows.length < limit) flows.push(this.info(f));
      total++;
    }
    return { total, flows };
  }

  /**
   * How far entries sit from their home slot in the two flow indexes (0 = at home), a
   * check that lookups stay short after churn. Walks every slot: diagnostics only.
   */
  probeStats(): { outMean: number; outMax: number; inMean: number; inMax: number } {
    const walk = (index: Int32Array, home: (f: number) => number): [number, number] => {
      let sum = 0, max = 0, n = 0;
      for (let i = 0; i <= this.outMask; i++) {
        const f = index[i]!;
        if (f === EMPTY) continue;
        const d = (i - home(f)) & this.outMask;
        sum += d; n++;
        if (d > max) max = d;
      }
      return [n ? sum / n : 0, max];
    };
    const [outMean, outMax] = walk(this.outIndex, (f) => this.outSlotHash(this.fProto[f]!, this.fIntAddr[f]!, this.fIntPort[f]!, this.fRemAddr[f]!, this.fRemPort[f]!));
    const [inMean, inMax] = walk(this.inIndex, (f) => this.inHome(this.fProto[f]!, this.fExtPort[f]!, this.fRemAddr[f]!));
    return { outMean, outMax, inMean, inMax };
  }

  /** Bytes held by the typed arrays (all indexes included). */
  get storageBytes(): number {
    const arrays = [this.fProto, this.fState, this.fIntAddr, this.fRemAddr, this.fIntPort, this.fRemPort, this.fExtPort,
      this.fExpires, this.fHeld, this.fInNext, this.outIndex, this.inIndex, this.pOwnerAddr, this.pOwnerPort, this.pOwnerRem, this.pRefs,
      this.pMapped, this.bindIndex];
    return arrays.reduce((n, a) => n + a.byteLength, 0) + this.wheel.storageBytes;
  }

  // ---------------------------------------------------------------- internals

  private drop(reason: DropReason): Verdict {
    this.result.reason = reason;
    this.counters.drops[reason]++;
    return VERDICT.drop;
  }

  private info(f: number): FlowInfo {
    const proto = this.fProto[f]!;
    const base = {
      protocol: proto, internalAddr: this.fIntAddr[f]!, internalPort: this.fIntPort[f]!, remoteAddr: this.fRemAddr[f]!,
      remotePort: this.fRemPort[f]!, externalAddr: this.externalAddr, externalPort: this.fExtPort[f]!, expiresMs: this.expiresAt(f),
    };
    return proto === 6 ? { ...base, tcpState: tcpStateName(this.fState[f]!) } : base;
  }

  /** When `expire` removes flow `f` at the earliest: its idle timer or its hold, the later. */
  private expiresAt(f: number): number {
    return Math.max(this.fExpires[f]!, this.fHeld[f]!);
  }

  /** `expire`'s visit of a flow the wheel says may be due. */
  private expireOrRefile(f: number): void {
    const at = this.expiresAt(f);
    if (at > this.sweepNowMs) {
      this.wheel.schedule(f, at);
      return;
    }
    this.removeFlow(f);
    this.counters.flowsExpired++;
    this.sweepRemoved++;
  }

  private internalKey(pi: number, addr: number, port: number): number {
    return pi * 2 ** 48 + addr * PORTS + port;
  }

  private unindexInternal(m: NatPortMapping): void {
    const ik = this.internalKey(protoIndex(m.protocol), m.internalClient, m.internalPort);
    const list = this.mappingsByInternal.get(ik);
    if (!list) return;
    const i = list.indexOf(m);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.mappingsByInternal.delete(ik);
  }

  private matchMapping(pi: number, port: number, remote: number): NatPortMapping | null {
    const list = this.mappings.get((pi << 16) | port);
    if (!list) return null;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (m.remoteHost === remote || m.remoteHost === 0) return m;
    }
    return null;
  }

  /** Refreshes a flow's timer and follows TCP state (RFC 5382 REQ-5, RFC 7857 §2.1). */
  private touch(f: number, tcpFlags: number, outbound: boolean, nowMs: number): void {
    const t = this.config.timeouts;
    const proto = this.fProto[f];
    if (proto === 17) {
      // RFC 4787 REQ-6: outbound refreshes; inbound refresh is allowed (MAY) and done here,
      // so a server behind the NAT that only receives keeps its mapping.
      this.fExpires[f] = nowMs + t.udpMs;
    } else if (proto === 1) {
      this.fExpires[f] = nowMs + t.icmpMs;
    } else {
      this.touchTcp(f, tcpFlags, outbound, nowMs);
    }
    // A new flow is filed here; a timer that got shorter (a TCP close) is filed again.
    // A longer one is not moved: the wheel hands the flow back when its old time comes.
    this.wheel.scheduleIfSooner(f, this.expiresAt(f));
  }

  /** TCP: follows the connection's state; established or transitory timeout (RFC 5382 REQ-5). */
  private touchTcp(f: number, tcpFlags: number, outbound: boolean, nowMs: number): void {
    const t = this.config.timeouts;
    let s = this.fState[f]!;
    if (tcpFlags & RST) s |= S_RST;
    if (tcpFlags & SYN) {
      // A new SYN after a reset or a close starts the connection over.
      if (s & (S_RST | S_FIN_IN | S_FIN_OUT)) s = 0;
      s |= outbound ? S_SYN_OUT : S_SYN_IN;
      // A SYN-ACK answers the other side's SYN, even one this flow never saw (an inbound
      // SYN that reached a port mapping before the flow existed).
      if (tcpFlags & ACK) s |= outbound ? S_SYN_IN : S_SYN_OUT;
    }
    if (tcpFlags & FIN) s |= outbound ? S_FIN_OUT : S_FIN_IN;
    this.fState[f] = s;
    // Established: a SYN seen each way, no RST, not closed from both sides (a half-close
    // can carry data for a long time, so one FIN keeps the established timeout).
    const established = (s & (S_SYN_IN | S_SYN_OUT)) === (S_SYN_IN | S_SYN_OUT) && (s & S_RST) === 0
      && (s & (S_FIN_IN | S_FIN_OUT)) !== (S_FIN_IN | S_FIN_OUT);
    this.fExpires[f] = nowMs + (established ? t.tcpEstablishedMs : t.tcpTransitoryMs);
  }

  private outSlotHash(proto: number, a: number, ap: number, r: number, rp: number): number {
    return hash5(proto, a, ap, r, rp) & this.outMask;
  }

  private findOut(proto: number, a: number, ap: number, r: number, rp: number): number {
    let i = this.outSlotHash(proto, a, ap, r, rp);
    for (;;) {
      const f = this.outIndex[i]!;
      if (f === EMPTY) return EMPTY;
      if (this.fIntAddr[f] === a && this.fIntPort[f] === ap && this.fRemAddr[f] === r && this.fRemPort[f] === rp && this.fProto[f] === proto) return f;
      i = (i + 1) & this.outMask;
    }
  }

  private inHome(proto: number, extPort: number, r: number): number {
    return hash5(proto, extPort, r, 0x5bd1e995, 0) & this.outMask;
  }

  /** The inIndex slot holding (or to hold) the chain of (proto, extPort, remote addr). */
  private inSlot(proto: number, extPort: number, r: number): number {
    let i = this.inHome(proto, extPort, r);
    for (;;) {
      const f = this.inIndex[i]!;
      if (f === EMPTY || (this.fExtPort[f] === extPort && this.fRemAddr[f] === r && this.fProto[f] === proto)) return i;
      i = (i + 1) & this.outMask;
    }
  }

  private findIn(proto: number, extPort: number, r: number, rp: number): number {
    let f = this.inIndex[this.inSlot(proto, extPort, r)]!;
    while (f !== EMPTY && this.fRemPort[f] !== rp) f = this.fInNext[f]!;
    return f;
  }

  /** A new flow, or EMPTY with the reason in `result.reason` (not counted: the caller decides). */
  private createFlow(proto: number, pi: number, a: number, ap: number, r: number, rp: number, nowMs: number, suggestedPort = 0): number {
    if (this.live >= this.capacity) {
      this.result.reason = 'table-full';
      return EMPTY;
    }
    const held = this.perClient?.get(a) ?? 0;
    if (this.perClient && held >= this.config.maxFlowsPerClient) {
      this.result.reason = 'client-flow-limit';
      return EMPTY;
    }
    const extPort = this.bindingFor(proto, pi, a, ap, r, suggestedPort);
    if (extPort < 0) {
      this.result.reason = 'ports-exhausted';
      return EMPTY;
    }
    let f: number;
    if (this.freeHead !== EMPTY) {
      f = this.freeHead;
      this.freeHead = this.fInNext[f]!;
    } else {
      f = this.highWater++;
    }
    this.fProto[f] = proto;
    this.fState[f] = 0;
    this.fIntAddr[f] = a;
    this.fIntPort[f] = ap;
    this.fRemAddr[f] = r;
    this.fRemPort[f] = rp;
    this.fExtPort[f] = extPort;
    this.fExpires[f] = nowMs;
    this.fHeld[f] = 0;
    let i = this.outSlotHash(proto, a, ap, r, rp);
    while (this.outIndex[i] !== EMPTY) i = (i + 1) & this.outMask;
    this.outIndex[i] = f;
    const s = this.inSlot(proto, extPort, r);
    this.fInNext[f] = this.inIndex[s]!;
    this.inIndex[s] = f;
    this.pRefs[pi * PORTS + extPort]!++;
    this.live++;
    this.perClient?.set(a, held + 1);
    this.counters.flowsCreated++;
    return f;
  }

  private removeFlow(f: number): void {
    const proto = this.fProto[f]!;
    const pi = protoIndex(proto);
    const a = this.fIntAddr[f]!, ap = this.fIntPort[f]!, r = this.fRemAddr[f]!, rp = this.fRemPort[f]!, ep = this.fExtPort[f]!;
    // outIndex: find the slot, then shift later entries back.
    let i = this.outSlotHash(proto, a, ap, r, rp);
    while (this.outIndex[i] !== f) {
      if (this.outIndex[i] === EMPTY) brokenInvariant('a live flow is missing from the outbound index');
      i = (i + 1) & this.outMask;
    }
    this.shiftBack(this.outIndex, this.outMask, i, (g) => this.outSlotHash(this.fProto[g]!, this.fIntAddr[g]!, this.fIntPort[g]!, this.fRemAddr[g]!, this.fRemPort[g]!));
    // inIndex chain: unlink; an emptied chain frees its slot.
    const s = this.inSlot(proto, ep, r);
    if (this.inIndex[s] === f) {
      const next = this.fInNext[f]!;
      if (next !== EMPTY) this.inIndex[s] = next;
      else this.shiftBack(this.inIndex, this.outMask, s, (g) => this.inHome(this.fProto[g]!, this.fExtPort[g]!, this.fRemAddr[g]!));
    } else {
      let p = this.inIndex[s]!;
      while (this.fInNext[p] !== f) {
        if (p === EMPTY) brokenInvariant('a live flow is missing from its inbound chain');
        p = this.fInNext[p]!;
      }
      this.fInNext[p] = this.fInNext[f]!;
    }
    const slot = pi * PORTS + ep;
    if (--this.pRefs[slot]! === 0) this.releaseBinding(pi, ep);
    this.wheel.cancel(f);
    this.dropTag(f);
    this.fProto[f] = 0;
    this.fInNext[f] = this.freeHead;
    this.freeHead = f;
    this.live--;
    if (this.perClient) {
      const left = (this.perClient.get(a) ?? 1) - 1;
      if (left > 0) this.perClient.set(a, left);
      else this.perClient.delete(a);
    }
  }

  /** Backward-shift deletion for linear probing: empties slot `i` and moves displaced entries up. */
  private shiftBack(index: Int32Array, mask: number, i: number, home: (entry: number) => number): void {
    let hole = i;
    let j = (i + 1) & mask;
    for (;;) {
      const e = index[j]!;
      if (e === EMPTY) break;
      const h = home(e);
      // Move e into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? h > hole && h <= j : h > hole || h <= j;
      if (!inRange) {
        index[hole] = e;
        hole = j;
      }
      j = (j + 1) & mask;
    }
    index[hole] = EMPTY;
  }

  private bindKeyRemote(r: number): number {
    return this.config.mapping === 'address-dependent' ? r : 0;
  }

  private bindHome(pi: number, a: number, ap: number, rk: number): number {
    return hash5(pi + 101, a, ap, rk, 0x27d4eb2d) & this.bindMask;
  }

  /**
   * The external port for a new flow: the internal endpoint's port mapping if it has
   * an enabled wildcard one; else its existing binding (endpoint-independent or
   * address-dependent mapping); else a newly allocated port (`suggestedPort` when it is
   * free, see allocatePort). -1 when none is free.
   */
  private bindingFor(proto: number, pi: number, a: number, ap: number, r: number, suggestedPort = 0): number {
    if (pi !== 2 && this.mappingsByInternal.size !== 0) {
      const mapped = this.mappingsByInternal.get(this.internalKey(pi, a, ap));
      if (mapped) {
        for (const m of mapped) {
          const slot = pi * PORTS + m.externalPort;
          if (m.enabled && (m.remoteHost === 0 || m.remoteHost === r)
            && (this.pRefs[slot] === 0 || (this.pOwnerAddr[slot] === a && this.pOwnerPort[slot] === ap))) {
            if (this.pRefs[slot] === 0) this.claim(pi, m.externalPort, a, ap, this.bindKeyRemote(r), false);
            return m.externalPort;
          }
        }
      }
    }
    const mode = this.config.mapping;
    const rk = this.bindKeyRemote(r);
    if (mode !== 'address-and-port-dependent') {
      let i = this.bindHome(pi, a, ap, rk);
      for (;;) {
        const e = this.bindIndex[i]!;
        if (e === EMPTY) break;
        const slot = (e >>> 16) * PORTS + (e & 0xffff);
        if (e >>> 16 === pi && this.pOwnerAddr[slot] === a && this.pOwnerPort[slot] === ap && this.pOwnerRem[slot] === rk) return e & 0xffff;
        i = (i + 1) & this.bindMask;
      }
    }
    const port = this.allocatePort(pi, ap, suggestedPort);
    if (port < 0) return -1;
    this.claim(pi, port, a, ap, rk, mode !== 'address-and-port-dependent');
    return port;
  }

  private claim(pi: number, port: number, a: number, ap: number, rk: number, indexed: boolean): void {
    const slot = pi * PORTS + port;
    this.pOwnerAddr[slot] = a;
    this.pOwnerPort[slot] = ap;
    this.pOwnerRem[slot] = rk;
    if (!indexed) return;
    let i = this.bindHome(pi, a, ap, rk);
    while (this.bindIndex[i] !== EMPTY) i = (i + 1) & this.bindMask;
    this.bindIndex[i] = (pi << 16) | port;
  }

  private releaseBinding(pi: number, port: number): void {
    const slot = pi * PORTS + port;
    const want = (pi << 16) | port;
    const a = this.pOwnerAddr[slot]!, ap = this.pOwnerPort[slot]!, rk = this.pOwnerRem[slot]!;
    let i = this.bindHome(pi, a, ap, rk);
    for (let n = 0; n <= this.bindMask; n++) {
      const e = this.bindIndex[i]!;
      if (e === EMPTY) break;
      if (e === want) {
        this.shiftBack(this.bindIndex, this.bindMask, i, (g) => {
          const gs = (g >>> 16) * PORTS + (g & 0xffff);
          return this.bindHome(g >>> 16, this.pOwnerAddr[gs]!, this.pOwnerPort[gs]!, this.pOwnerRem[gs]!);
        });
        break;
      }
      i = (i + 1) & this.bindMask;
    }
    this.pOwnerAddr[slot] = 0;
    this.pOwnerPort[slot] = 0;
    this.pOwnerRem[slot] = 0;
  }

  /**
   * Picks a free external port in the internal port's class (RFC 4787 REQ-3: below
   * 1024 stays below, 1024 and up stays in the configured range; ICMP identifiers use
   * 1–65535). Free = no flow owns it and no port mapping reserves it. A free `suggested`
   * port of that class is taken as it is (the cursor does not move).
   */
  private allocatePort(pi: number, internalPort: number, suggested = 0): number {
    let lo: number, hi: number, cls: number;
    if (pi === 2) { lo = 1; hi = 65535; cls = 0; }
    else if (internalPort < 1024) { lo = 1; hi = 1023; cls = 0; }
    else { lo = this.config.portRange.min; hi = this.config.portRange.max; cls = 1; }
    if (suggested >= lo && suggested <= hi && this.pRefs[pi * PORTS + suggested] === 0 && this.pMapped[pi * PORTS + suggested] === 0) {
      return suggested;
    }
    const n = hi - lo + 1;
    let start: number;
    const how = this.config.portAllocation;
    if (how === 'preserve' && internalPort >= lo && internalPort <= hi) start = internalPort;
    else if (how === 'random') {
      const x = this.config.random();
      // A source that strays outside [0, 1) must not break allocation.
      start = lo + (x >= 0 && x < 1 ? Math.floor(x * n) : 0);
    }
    else {
      const c = this.cursor[pi * 2 + cls]!;
      start = c < lo || c > hi ? (how === 'preserve' && internalPort >= lo && internalPort <= hi ? internalPort : lo) : c;
    }
    const base = pi * PORTS;
    for (let k = 0; k < n; k++) {
      const p = lo + ((start - lo + k) % n);
      if (this.pRefs[base + p] === 0 && this.pMapped[base + p] === 0) {
        if (how !== 'random') this.cursor[pi * 2 + cls] = p + 1 > hi ? lo : p + 1;
        return p;
      }
    }
    return -1;
  }
}

/** A TCP flow's state bits, named. */
function tcpStateName(s: number): TcpStateName {
  const fins = s & (S_FIN_IN | S_FIN_OUT);
  return s & S_RST ? 'reset' : fins === (S_FIN_IN | S_FIN_OUT) ? 'closing' : fins ? 'half-closed'
    : (s & (S_SYN_IN | S_SYN_OUT)) === (S_SYN_IN | S_SYN_OUT) ? 'established' : s & S_SYN_IN ? 'syn-received' : 'syn-sent';
}
