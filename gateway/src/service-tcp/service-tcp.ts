/**
 * A userspace TCP endpoint for one service port of the gateway's LAN address (the IGD's
 * HTTP port): the router hands it the LAN's segments for that port, and it answers them
 * itself, so that a request to the IGD no longer crosses the local port and the kernel's
 * TCP stack behind it (see docs/architecture.md, "The SOAP path"). Each connection is
 * given to node:http as a ServiceSocket (a Duplex), so the HTTP server is the same one.
 *
 * Passive open only (RFC 9293 §3.10): LISTEN → SYN-RECEIVED → ESTABLISHED, and the close
 * from either side (CLOSE-WAIT / LAST-ACK, FIN-WAIT-1 / FIN-WAIT-2 / CLOSING). What it
 * leaves out, on purpose, for a service on a LAN:
 *  - out-of-order segments are dropped and answered with an ACK of what is in order (the
 *    peer sends again); data before `rcvNxt` is trimmed;
 *  - no window scaling, SACK or timestamps are offered, so the peer uses none (RFC 7323
 *    §1.3: both SYNs must carry an option for it to apply); the window is ≤ 65,535;
 *  - retransmission is go-back-N from the oldest unacknowledged byte on a timeout (RTO
 *    1 s for the SYN-ACK as RFC 6298 §2.1, 200 ms for data as Linux's minimum, doubling
 *    per retry); an ACK of what the first transmission sent (up to SND.MAX, FIN included)
 *    is taken as it comes; the same timer probes a window the peer closed; the congestion
 *    window starts at 10 segments (RFC 6928), grows by what is acknowledged (slow start)
 *    and falls to one segment on a timeout;
 *  - no TIME-WAIT: a connection is forgotten once both FINs are acknowledged; a segment
 *    of a forgotten connection is answered with RST (RFC 9293 §3.10.7.1), which a peer
 *    retransmitting its FIN takes as the end. FIN-WAIT-2 lasts at most 30 s.
 * Connections are bounded (`maxConnections`, half-open ones included, closing ones whose
 * socket is gone not): a SYN past the bound makes the oldest half-open connection go, or
 * is dropped and counted when there is none. SYN-RECEIVED gives up after 4 SYN-ACKs; data
 * unacknowledged after 8 retransmissions fails the socket (ETIMEDOUT), without a RST.
 *
 * Frames go out through `transmit`, batched: whatever the endpoint has to send after a
 * received batch, a write or a timer is written once, when the event loop's turn has run
 * its callbacks (setImmediate): the ACK of a request leaves with an answer made in the same
 * turn, and an answer with the FIN node:http sends after it, in one segment.
 *
 * Must not: throw on any received frame (malformed → counted drop), keep a frame's bytes
 * past `receive` (data is copied to the socket), or send to anyone but the peer of a
 * connection (or the source of a segment it resets).
 */
import { randomFillSync } from 'node:crypto';
import {
  ETHERNET_HEADER_LENGTH, ETHERTYPE, IP_PROTOCOL, IPV4_MIN_HEADER_LENGTH, TCP_FLAG, TCP_MIN_HEADER_LENGTH, TcpPacket,
  internetChecksum, ipv4ToString, readU16, writeU16, writeU32, type Ipv4Packet,
} from '@openigd/nat-table';
import { FrameFlag, createFrameBatch, pushFrame, type FrameBatch } from '../link/index.js';
import { ServiceSocket, type SocketPeer } from './service-socket.js';

const STATE = { synReceived: 0, established: 1, closeWait: 2, finWait1: 3, finWait2: 4, closing: 5, lastAck: 6, closed: 7 } as const;
type State = (typeof STATE)[keyof typeof STATE];

/** The window we offer: no scaling, so at most 65,535 bytes. */
const RECEIVE_WINDOW = 65_535;
/** Written and not yet acknowledged beyond this: a write waits (the Duplex's backpressure). */
const SEND_BUFFER_LIMIT = 256 * 1024;
/** RFC 6298 §2.1: the first RTO, for the SYN-ACK. */
const SYN_RTO_MS = 1_000;
/** The RTO for data once connected: Linux's minimum (a LAN's round trip is far below it). */
const DATA_RTO_MS = 200;
const MAX_RTO_MS = 30_000;
const MAX_SYN_ACKS = 4;
/** Connections closing after their socket is gone (FIN-WAIT, LAST-ACK), kept beyond `maxConnections`: this many per one. */
const ORPHANS_PER_CONNECTION = 4;
const MAX_DATA_RETRIES = 8;
/** A connection that sent FIN and hears nothing more for this long is forgotten (Linux's tcp_fin_timeout is 60 s). */
const FIN_WAIT_MS = 30_000;
/** How often the retransmission timer looks at connections with something outstanding. */
const TIMER_STEP_MS = 50;
/** RFC 9293 §3.7.1: the MSS assumed when the SYN carries none. */
const DEFAULT_MSS = 536;
/** RFC 6928: the initial congestion window, in segments. */
const INITIAL_WINDOW_SEGMENTS = 10;
const TTL = 64;
/** Frames the endpoint can hold between two transmits. */
const TX_SLOTS = 64;
/** Ethernet + IPv4 + TCP with the MSS option (the SYN-ACK's). */
const HEADERS = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + TCP_MIN_HEADER_LENGTH;

/** Sequence-space comparisons (RFC 9293 §3.4): a < b modulo 2^32. */
const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
const seqDiff = (a: number, b: number): number => (a - b) | 0;

export interface ServiceTcpCounters {
  /** Connections handed to the application. */
  accepted: number;
  /** SYNs dropped because `maxConnections` were open and none of them was half-open. */
  refused: number;
  /** Half-open connections (SYN-RECEIVED) forgotten to make room for a new SYN. */
  halfOpenDropped: number;
  resetsSent: number;
  resetsReceived: number;
  retransmits: number;
  /** Connections given up: no answer to the SYN-ACK, or to data after every retransmission. */
  timedOut: number;
  /** Segments dropped: bad checksum, malformed, a fragment, or not acceptable in the connection's state. */
  dropped: number;
  /** In-order bytes received, and sent for the first time. */
  bytesIn: number;
  bytesOut: number;
}

/** `/status`'s view: the counters and the connections open now. */
export type ServiceTcpStatus = Readonly<ServiceTcpCounters> & { readonly open: number };

export interface ServiceTcpOptions {
  /** The address and MAC the endpoint answers for (the gateway's LAN address and MAC). */
  readonly addr: number;
  readonly mac: Uint8Array;
  /** The TCP port it serves. */
  readonly port: number;
  /** The LAN's MTU: the MSS offered is MTU − 40. */
  readonly mtu: number;
  /** Most connections at once, half-open ones included. */
  readonly maxConnections: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Writes a batch of frames to the LAN; the batch is the endpoint's, reused after the call. */
  readonly transmit: (batch: FrameBatch) => void;
  /** A new connection, established. */
  readonly accept: (socket: ServiceSocket) => void;
}

/** Four random octets per connection for the initial sequence number (RFC 9293 §3.4.1), drawn 256 at a time. */
class IsnSource {
  private readonly pool = new Uint32Array(256);
  private next = this.pool.length;
  take(): number {
    if (this.next === this.pool.length) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    return this.pool[this.next++]!;
  }
}

class Connection implements SocketPeer {
  state: State = STATE.synReceived;
  socket: ServiceSocket | null = null;
  /** Send side: the first unacknowledged sequence number, the next to send, the peer's window, our MSS toward it. */
  sndUna: number;
  sndNxt: number;
  sndWnd = 0;
  cwnd: number;
  /** Receive side: the next sequence number expected. */
  rcvNxt: number;
  /** The window we last advertised. */
  rcvWndSent = RECEIVE_WINDOW;
  /** Data written and not acknowledged, from `sndUna` on: `queue[0]` from `queueHead`. */
  readonly queue: Buffer[] = [];
  queueHead = 0;
  queued = 0;
  /** Received in order, not yet pushed to the socket (`drainInbox`); `inboxEnd`: the peer's FIN follows. */
  readonly inbox: Buffer[] = [];
  inboxBytes = 0;
  inboxEnd = false;
  /** Writes waiting for room in the send buffer. */
  readonly waiting: Array<() => void> = [];
  /** The application ended its side: FIN goes after the queue; `finSeq` once it is sent. */
  finQueued = false;
  finSeq = -1;
  /**
   * The highest sequence number sent so far (SND.MAX) and the FIN's, once it was ever
   * sent: after a go-back-N the peer may acknowledge up to them although `sndNxt` and
   * `finSeq` went back (see `acknowledge`).
   */
  sndMax = 0;
  finSent = -1;
  /** The application is gone (socket destroyed): data from the peer now resets the connection. */
  orphaned = false;
  ackPending = false;
  synAckPending = true;
  /** Retransmission: when it is due (-1: nothing outstanding), the current RTO and the retries so far. */
  deadline = -1;
  rto = SYN_RTO_MS;
  retries = 0;
  /** FIN-WAIT-2 without end: forgotten at this time. */
  finWaitUntil = -1;

  constructor(
    readonly endpoint: ServiceTcp,
    readonly key: number,
    readonly peerAddr: number,
    readonly peerPort: number,
    readonly peerMac: Uint8Array,
    readonly mss: number,
    iss: number,
    irs: number,
  ) {
    this.sndUna = iss;
    this.sndNxt = iss;
    this.rcvNxt = seqAdd(irs, 1);
    this.cwnd = INITIAL_WINDOW_SEGMENTS * mss;
  }

  write(data: Buffer, done: (error?: Error | null) => void): void {
    if (this.state === STATE.closed || this.finQueued) {
      done(new Error('write after the connection ended'));
      return;
    }
    this.queue.push(data);
    this.queued += data.length;
    if (this.queued - this.inFlight() > SEND_BUFFER_LIMIT) this.waiting.push(() => done());
    else done();
    this.endpoint.schedule(this);
  }

  end(): void {
    if (this.finQueued || this.state === STATE.closed) return;
    this.finQueued = true;
    this.endpoint.schedule(this);
  }

  close(unread: boolean): void {
    this.orphaned = true;
    if (this.state === STATE.closed) return;
    if (unread) this.endpoint.reset(this);
    else this.end();
  }

  consumed(): void {
    // The window reopens: tell the peer if it had been told we were (nearly) full.
    if (this.rcvWndSent < this.mss && this.receiveWindow() >= this.mss) {
      this.ackPending = true;
      this.endpoint.schedule(this);
    }
  }

  /** Bytes sent and not acknowledged (the FIN not counted). */
  inFlight(): number {
    const n = seqDiff(this.sndNxt, this.sndUna);
    return this.finSeq >= 0 && n > this.queued ? this.queued : n;
  }

  /** The window to advertise: what the socket's buffer (and the inbox) still takes. */
  receiveWindow(): number {
    const buffered = (this.socket?.readableLength ?? 0) + this.inboxBytes;
    return buffered >= RECEIVE_WINDOW ? 0 : RECEIVE_WINDOW - buffered;
  }

  /** Data received in order, for the socket at the next flush (outside the router's batch). */
  deliver(data: Buffer): void {
    this.inbox.push(data);
    this.inboxBytes += data.length;
  }

  /** The peer's FIN, for the socket after its data. */
  deliverEnd(): void {
    this.inboxEnd = true;
  }

  /** Hands the inbox to the socket: its data, then the end of it. */
  drainInbox(): void {
    const socket = this.socket;
    const data = this.inbox.splice(0);
    this.inboxBytes = 0;
    const ended = this.inboxEnd;
    this.inboxEnd = false;
    if (socket === null || socket.destroyed) return;
    for (const chunk of data) socket.receive(chunk);
    if (!ended) return;
    // The end comes a turn after the data, as a kernel socket reads EOF in a later read: an
    // answer the application makes at once (in microtasks) is written before node:http
    // sees the end of a half-closed request (without allowHalfOpen it ends the socket then).
    if (data.length === 0) socket.receiveEnd();
    else setImmediate(() => socket.receiveEnd());
  }

  /** Drops `n` acknowledged bytes from the front of the queue and releases waiting writes. */
  release(n: number): void {
    this.queued -= n;
    while (n > 0) {
      const first = this.queue[0]!;
      const left = first.length - this.queueHead;
      if (n < left) {
        this.queueHead += n;
        break;
      }
      n -= left;
      this.queue.shift();
      this.queueHead = 0;
    }
    while (this.waiting.length > 0 && this.queued - this.inFlight() <= SEND_BUFFER_LIMIT) this.waiting.shift()!();
  }

  /** Copies `length` queued bytes, from `from` bytes past `sndUna`, to `buf[at]`. */
  copyQueued(from: number, length: number, buf: Uint8Array, at: number): void {
    let skip = from + this.queueHead;
    for (const chunk of this.queue) {
      if (length === 0) return;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const n = Math.min(chunk.length - skip, length);
      buf.set(chunk.subarray(skip, skip + n), at);
      at += n;
      length -= n;
      skip = 0;
    }
  }
}

export class ServiceTcp {
  readonly counters: ServiceTcpCounters = {
    accepted: 0, refused: 0, halfOpenDropped: 0, resetsSent: 0, resetsReceived: 0, retransmits: 0, timedOut: 0, dropped: 0, bytesIn: 0, bytesOut: 0,
  };
  private readonly connections = new Map<number, Connection>();
  /** Connections with something to send at the next flush. */
  private readonly dirty = new Set<Connection>();
  /** Connections with a retransmission or FIN-WAIT deadline. */
  private readonly timed = new Set<Connection>();
  private flushScheduled = false;
  /** Connections with data or a FIN for their socket, and whether their delivery is scheduled. */
  private readonly inboxes = new Set<Connection>();
  private deliverScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly tcp = new TcpPacket();
  private readonly isn = new IsnSource();
  private readonly scratch = new Uint8Array(TX_SLOTS * (HEADERS + 1500));
  private readonly tx: FrameBatch = createFrameBatch(TX_SLOTS, this.scratch);
  private scratchUsed = 0;
  private ipId = 0;
  private readonly ourMss: number;
  private readonly localAddress: string;
  private closed = false;

  constructor(private readonly options: ServiceTcpOptions) {
    this.ourMss = Math.min(options.mtu, 1500) - IPV4_MIN_HEADER_LENGTH - TCP_MIN_HEADER_LENGTH;
    this.localAddress = ipv4ToString(options.addr);
  }

  /** Connections open now, half-open and closing ones included. */
  get open(): number {
    return this.connections.size;
  }

  status(): ServiceTcpStatus {
    return { ...this.counters, open: this.connections.size };
  }

  /** Connections that count against `maxConnections`: all but those whose socket is gone (closing on their own). */
  private get live(): number {
    let n = 0;
    for (const conn of this.connections.values()) if (!conn.orphaned) n++;
    return n;
  }

  /** Forgets the oldest connection still in SYN-RECEIVED; false when there is none. */
  private dropOldestHalfOpen(): boolean {
    for (const conn of this.connections.values()) {
      if (conn.state === STATE.synReceived) {
        this.counters.halfOpenDropped++;
        this.forget(conn);
        return true;
      }
    }
    return false;
  }

  /** Makes room for one more connection: the oldest one whose socket is gone is reset. */
  private resetOldestOrphan(): void {
    for (const conn of this.connections.values()) {
      if (conn.orphaned) {
        this.reset(conn);
        return;
      }
    }
  }

  /** Whether the IPv4 packet in `ip` (attached, from the LAN, to our address) is TCP to our port: then `receive` takes it. */
  claims(ip: Ipv4Packet): boolean {
    if (ip.protocol !== IP_PROTOCOL.tcp || ip.payloadLength < 4) return false;
    return readU16(ip.buf, ip.payloadOffset + 2) === this.options.port;
  }

  /**
   * One segment from the LAN: `frame` holds the Ethernet frame at `ethOffset`, `ip` is
   * attached to its IPv4 packet, `flags` its offload flags (a partial or kernel-verified
   * checksum is not checked again).
   */
  receive(frame: Uint8Array, ethOffset: number, ip: Ipv4Packet, flags: number): void {
    if (this.closed) return;
    const tcp = this.tcp;
    if (ip.isFragment || !ip.verifyChecksum() || tcp.attach(frame, ip.payloadOffset, ip.payloadLength) !== 'ok') {
      this.counters.dropped++;
      return;
    }
    const checked = (flags & (FrameFlag.csumPartial | FrameFlag.csumValid)) !== 0;
    if (!checked && !tcp.verifyChecksum(ip.srcAddr, ip.dstAddr)) {
      this.counters.dropped++;
      return;
    }
    const key = ip.srcAddr * 65_536 + tcp.srcPort;
    const conn = this.connections.get(key);
    if (conn === undefined || conn.state === STATE.closed) this.unknown(frame, ethOffset, ip.srcAddr, key);
    else this.segment(conn);
  }

  /** Retransmissions, given-up handshakes and FIN-WAIT timeouts at `nowMs`. */
  tick(nowMs: number): void {
    for (const conn of this.timed) {
      if (conn.finWaitUntil >= 0 && nowMs >= conn.finWaitUntil) {
        this.forget(conn);
        continue;
      }
      if (conn.deadline < 0) {
        if (conn.finWaitUntil < 0) this.timed.delete(conn);
        continue;
      }
      if (nowMs >= conn.deadline) this.retransmit(conn, nowMs);
    }
    if (this.timed.size === 0) this.stopTimer();
  }

  /** Resets every connection and stops (the gateway is stopping). */
  close(): void {
    for (const conn of [...this.connections.values()]) this.reset(conn);
    this.flush();
    this.closed = true;
    this.stopTimer();
  }

  // ---------------------------------------------------------------- receiving

  /** A segment no connection claims: a SYN opens one; anything else but RST is answered with RST. */
  private unknown(frame: Uint8Array, ethOffset: number, srcAddr: number, key: number): void {
    const tcp = this.tcp;
    const flags = tcp.flags;
    if (flags & TCP_FLAG.rst) return;
    const peerMac = frame.slice(ethOffset + 6, ethOffset + 12);
    if (flags & TCP_FLAG.ack) {
      // RFC 9293 §3.10.7.1 (CLOSED/LISTEN): <SEQ=SEG.ACK><CTL=RST>.
      this.sendReset(peerMac, srcAddr, tcp.srcPort, tcp.ackNumber, 0, false);
      return;
    }
    if (!(flags & TCP_FLAG.syn) || (flags & TCP_FLAG.fin)) {
      this.counters.dropped++;
      return;
    }
    // Full: the oldest half-open connection makes room (a SYN flood cannot lock clients out), else the SYN is dropped.
    if (this.live >= this.options.maxConnections && !this.dropOldestHalfOpen()) {
      this.counters.refused++;
      return;
    }
    if (this.connections.size >= this.options.maxConnections * ORPHANS_PER_CONNECTION) this.resetOldestOrphan();
    const conn = new Connection(this, key, srcAddr, tcp.srcPort, peerMac, this.peerMss(), this.isn.take(), tcp.seqNumber);
    conn.sndWnd = tcp.window;
    this.connections.set(key, conn);
    conn.deadline = this.options.now() + conn.rto;
    this.watch(conn);
    this.schedule(conn);
  }

  /** The MSS the SYN in hand offers (capped by ours), or RFC 9293's default. */
  private peerMss(): number {
    const options = this.tcp.options();
    let i = 0;
    while (i < options.length) {
      const kind = options[i]!;
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      const length = options[i + 1] ?? 0;
      if (length < 2 || i + length > options.length) break;
      if (kind === 2 && length === 4) return Math.max(64, Math.min(this.ourMss, readU16(options, i + 2)));
      i += length;
    }
    return Math.min(this.ourMss, DEFAULT_MSS);
  }

  /** A segment of a known connection (RFC 9293 §3.10.7.4, the parts that apply to a passive endpoint). */
  private segment(conn: Connection): void {
    const tcp = this.tcp;
    const flags = tcp.flags;
    const seq = tcp.seqNumber;
    if (flags & TCP_FLAG.rst) {
      // Accepted only exactly at rcvNxt (RFC 5961 §3.2 would challenge the rest; dropping them is as safe).
      if (seq === conn.rcvNxt) {
        this.counters.resetsReceived++;
        this.fail(conn, 'ECONNRESET');
      } else this.counters.dropped++;
      return;
    }
    if (flags & TCP_FLAG.syn) {
      // A repeated SYN while the SYN-ACK is outstanding: send it again; in a connection: a challenge ACK (RFC 5961 §4).
      if (conn.state === STATE.synReceived && seqAdd(seq, 1) === conn.rcvNxt) conn.synAckPending = true;
      else conn.ackPending = true;
      this.schedule(conn);
      return;
    }
    if (!(flags & TCP_FLAG.ack)) {
      this.counters.dropped++;
      return;
    }
    if (!this.acknowledge(conn, tcp.ackNumber, tcp.window)) return;
    if (conn.state === STATE.closed) return;
    this.data(conn, seq, flags);
  }

  /**
   * The ACK field of a segment: completes the handshake, frees acknowledged data, moves
   * the closing states on. False when the segment must go no further (an ACK of nothing
   * we sent, or a handshake answered with the wrong number: RST).
   */
  private acknowledge(conn: Connection, ack: number, window: number): boolean {
    if (conn.state === STATE.synReceived) {
      if (ack !== seqAdd(conn.sndUna, 1)) {
        this.sendReset(conn.peerMac, conn.peerAddr, conn.peerPort, ack, 0, false);
        return false;
      }
      conn.sndUna = ack;
      conn.sndNxt = ack;
      conn.sndMax = ack;
      conn.synAckPending = false;
      conn.state = STATE.established;
      conn.rto = DATA_RTO_MS;
      conn.retries = 0;
      conn.deadline = -1;
      this.establish(conn);
    }
    if (seqLt(conn.sndMax, ack)) {
      // It acknowledges what we never sent: answer with an ACK of where we are (RFC 9293 §3.10.7.4).
      conn.ackPending = true;
      this.schedule(conn);
      return false;
    }
    if (seqLt(conn.sndNxt, ack)) this.resumeAt(conn, ack);
    conn.sndWnd = window;
    if (seqLt(conn.sndUna, ack)) {
      const acked = seqDiff(ack, conn.sndUna);
      const finAcked = conn.finSeq >= 0 && seqLt(conn.finSeq, ack);
      conn.release(finAcked ? acked - 1 : acked);
      conn.sndUna = ack;
      conn.cwnd = Math.min(conn.cwnd + acked, RECEIVE_WINDOW * 4);
      conn.retries = 0;
      conn.rto = DATA_RTO_MS;
      conn.deadline = conn.sndUna === conn.sndNxt ? -1 : this.options.now() + conn.rto;
      if (finAcked) this.finAcknowledged(conn);
      if (conn.state === STATE.closed) return false;
      if (conn.queued > 0 || conn.finQueued) this.schedule(conn);
    }
    return true;
  }

  /**
   * After a timeout sent `sndNxt` back (go-back-N), the peer acknowledges data (and maybe
   * the FIN) it had from the first transmission: carry on from there rather than send it again.
   */
  private resumeAt(conn: Connection, ack: number): void {
    conn.sndNxt = ack;
    if (conn.finSent >= 0 && conn.finSeq < 0 && seqLt(conn.finSent, ack)) {
      conn.finSeq = conn.finSent;
      this.sentFin(conn);
    }
  }

  /** Our FIN is acknowledged: FIN-WAIT-1 → FIN-WAIT-2, CLOSING and LAST-ACK → gone. */
  private finAcknowledged(conn: Connection): void {
    if (conn.state === STATE.finWait1) {
      conn.state = STATE.finWait2;
      conn.finWaitUntil = this.options.now() + FIN_WAIT_MS;
      this.watch(conn);
    } else if (conn.state === STATE.closing || conn.state === STATE.lastAck) this.forget(conn);
  }

  /** The segment's data and FIN, taken only in order. */
  private data(conn: Connection, seq: number, flags: number): void {
    const tcp = this.tcp;
    let offset = tcp.payloadOffset;
    let length = tcp.payloadLength;
    const fin = (flags & TCP_FLAG.fin) !== 0;
    if (length === 0 && !fin) return;
    // Data before rcvNxt was received already: trim it (a retransmission overlapping what we have).
    const early = seqDiff(conn.rcvNxt, seq);
    if (early > length) {
      conn.ackPending = true; // all of it (a FIN too) came before: tell the peer where we are
      this.schedule(conn);
      return;
    }
    if (early > 0) {
      offset += early;
      length -= early;
    } else if (early < 0) {
      this.counters.dropped++; // a gap before it: out of order
      conn.ackPending = true;
      this.schedule(conn);
      return;
    }
    const receiving = conn.state === STATE.established || conn.state === STATE.finWait1 || conn.state === STATE.finWait2;
    if (length > 0) {
      if (!receiving) {
        conn.ackPending = true;
        this.schedule(conn);
        return;
      }
      if (conn.orphaned) {
        // Nobody reads any more: the kernel resets such a connection too.
        this.reset(conn);
        return;
      }
      const room = conn.receiveWindow();
      const take = Math.min(length, room);
      if (take > 0) {
        conn.rcvNxt = seqAdd(conn.rcvNxt, take);
        this.counters.bytesIn += take;
        conn.deliver(Buffer.from(tcp.buf.subarray(offset, offset + take)));
        this.received(conn);
      }
      conn.ackPending = true;
      this.schedule(conn);
      if (take < length) return; // the rest (and a FIN after it) is sent again when the window opens
    }
    if (fin && receiving) this.peerFin(conn);
  }

  /** The peer's FIN, in order: its side is done. */
  private peerFin(conn: Connection): void {
    conn.rcvNxt = seqAdd(conn.rcvNxt, 1);
    conn.ackPending = true;
    this.schedule(conn);
    conn.deliverEnd();
    this.received(conn);
    if (conn.state === STATE.established) conn.state = STATE.closeWait;
    else if (conn.state === STATE.finWait1) conn.state = STATE.closing;
    else if (conn.state === STATE.finWait2) {
      // Both FINs acknowledged once this ACK leaves: the flush sends it and forgets the connection (no TIME-WAIT, see above).
      conn.state = STATE.closed;
    }
  }

  private establish(conn: Connection): void {
    const socket = new ServiceSocket(conn, {
      remoteAddress: ipv4ToString(conn.peerAddr), remotePort: conn.peerPort, localAddress: this.localAddress, localPort: this.options.port,
    });
    conn.socket = socket;
    this.counters.accepted++;
    this.options.accept(socket);
  }

  // ---------------------------------------------------------------- sending

  /** `conn` has something to send: it goes out at the next flush. */
  schedule(conn: Connection): void {
    this.dirty.add(conn);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => this.flush();

  /**
   * `conn` received data or FIN: it goes to the socket once the router's batch is done
   * (process.nextTick), so that an answer the application makes at once leaves with the
   * flush of the same turn.
   */
  received(conn: Connection): void {
    this.inboxes.add(conn);
    if (this.deliverScheduled) return;
    this.deliverScheduled = true;
    process.nextTick(this.deliverNow);
  }

  private readonly deliverNow = (): void => this.deliver();

  /** Hands every inbox to its socket. */
  private deliver(): void {
    this.deliverScheduled = false;
    for (const conn of this.inboxes) conn.drainInbox();
    this.inboxes.clear();
  }

  /** Sends what every scheduled connection has to send, and writes the frames. */
  private flush(): void {
    this.flushScheduled = false;
    this.deliver();
    for (const conn of this.dirty) {
      this.flushConnection(conn);
      if (conn.state === STATE.closed) this.forget(conn);
    }
    this.dirty.clear();
    this.transmit();
  }

  /** What one connection has to send now: its SYN-ACK, its data and FIN as the windows allow, or an ACK. */
  private flushConnection(conn: Connection): void {
    if (conn.synAckPending) {
      conn.synAckPending = false;
      this.emit(conn, conn.sndUna, TCP_FLAG.syn | TCP_FLAG.ack, 0, 0, true);
      conn.sndNxt = seqAdd(conn.sndUna, 1);
      return;
    }
    if (conn.state === STATE.synReceived || conn.state === STATE.closed) {
      if (conn.state === STATE.closed && conn.ackPending) this.emit(conn, conn.sndNxt, TCP_FLAG.ack, 0, 0, false);
      return;
    }
    let sent = false;
    const window = Math.max(Math.min(conn.sndWnd, conn.cwnd), 0);
    while (conn.finSeq < 0) {
      const offset = seqDiff(conn.sndNxt, conn.sndUna);
      const unsent = conn.queued - offset;
      const room = window - offset;
      const length = Math.min(unsent, room, conn.mss);
      const finNow = conn.finQueued && length === unsent;
      if (length <= 0 && !finNow) break;
      let flags = TCP_FLAG.ack;
      if (length > 0 && length === unsent) flags |= TCP_FLAG.psh;
      if (finNow) flags |= TCP_FLAG.fin;
      if (!this.emit(conn, conn.sndNxt, flags, offset, Math.max(length, 0), false)) break;
      this.counters.bytesOut += Math.max(length, 0);
      conn.sndNxt = seqAdd(conn.sndNxt, Math.max(length, 0));
      if (finNow) {
        conn.finSeq = conn.sndNxt;
        conn.finSent = conn.sndNxt;
        conn.sndNxt = seqAdd(conn.sndNxt, 1);
        this.sentFin(conn);
      }
      if (seqLt(conn.sndMax, conn.sndNxt)) conn.sndMax = conn.sndNxt;
      sent = true;
      if (conn.deadline < 0) {
        conn.deadline = this.options.now() + conn.rto;
        this.watch(conn);
      }
    }
    if (!sent && conn.ackPending) this.emit(conn, conn.sndNxt, TCP_FLAG.ack, 0, 0, false);
    // Data waits for a window the peer closed, with nothing in flight to bring an ACK: the
    // retransmission timer doubles as the persist timer and probes it (see `retransmit`).
    if (conn.deadline < 0 && conn.sndNxt === conn.sndUna && conn.queued > 0) {
      conn.deadline = this.options.now() + conn.rto;
      this.watch(conn);
    }
  }

  /** Our FIN left: ESTABLISHED → FIN-WAIT-1, CLOSE-WAIT → LAST-ACK. */
  private sentFin(conn: Connection): void {
    if (conn.state === STATE.established) conn.state = STATE.finWait1;
    else if (conn.state === STATE.closeWait) conn.state = STATE.lastAck;
  }

  /** A retransmission timeout: the SYN-ACK again, or everything from the oldest unacknowledged byte (go-back-N). */
  private retransmit(conn: Connection, nowMs: number): void {
    const limit = conn.state === STATE.synReceived ? MAX_SYN_ACKS : MAX_DATA_RETRIES;
    if (conn.retries >= limit) {
      this.counters.timedOut++;
      if (conn.state === STATE.synReceived) this.forget(conn);
      else this.fail(conn, 'ETIMEDOUT');
      return;
    }
    conn.retries++;
    this.counters.retransmits++;
    conn.rto = Math.min(conn.rto * 2, MAX_RTO_MS);
    conn.deadline = nowMs + conn.rto;
    if (conn.state === STATE.synReceived) conn.synAckPending = true;
    else {
      if (conn.finSeq >= 0) {
        // The FIN goes again with the data before it: back to the state before it was sent.
        conn.finSeq = -1;
        if (conn.state === STATE.finWait1) conn.state = STATE.established;
        else if (conn.state === STATE.lastAck) conn.state = STATE.closeWait;
        else if (conn.state === STATE.closing) conn.state = STATE.closeWait;
      }
      conn.sndNxt = conn.sndUna;
      conn.cwnd = conn.mss;
      // A zero window: probe it with one byte (RFC 9293 §3.8.6.1).
      if (conn.sndWnd === 0) conn.sndWnd = 1;
    }
    this.schedule(conn);
  }

  /**
   * Builds one segment of `conn` into the transmit batch: `flags`, sequence number `seq`,
   * `length` queued bytes from `from` past `sndUna`, and the MSS option on a SYN-ACK.
   * False when the batch is full even after writing it out.
   */
  private emit(conn: Connection, seq: number, flags: number, from: number, length: number, mssOption: boolean): boolean {
    const tcpHeader = TCP_MIN_HEADER_LENGTH + (mssOption ? 4 : 0);
    const at = this.room(tcpHeader + length);
    if (at < 0) return false;
    const buf = this.scratch;
    const window = conn.receiveWindow();
    this.writeHeaders(buf, at, conn.peerMac, conn.peerAddr, conn.peerPort, seq, conn.rcvNxt, flags, window, tcpHeader, length);
    if (mssOption) {
      const o = at + HEADERS;
      buf[o] = 2;
      buf[o + 1] = 4;
      writeU16(buf, o + 2, this.ourMss);
    }
    if (length > 0) conn.copyQueued(from, length, buf, at + HEADERS + (mssOption ? 4 : 0));
    this.commit(at, conn.peerAddr, tcpHeader + length);
    conn.ackPending = false;
    conn.rcvWndSent = window;
    return true;
  }

  /**
   * Where a frame with a TCP segment of `tcpLength` bytes goes in the transmit batch (the
   * batch is written out first when it is full), or -1 when it cannot fit even then.
   */
  private room(tcpLength: number): number {
    const frameLength = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + tcpLength;
    if (this.tx.count === TX_SLOTS || this.scratchUsed + frameLength > this.scratch.length) this.transmit();
    return this.scratchUsed + frameLength > this.scratch.length ? -1 : this.scratchUsed;
  }

  /** The frame written at `at` (its segment `tcpLength` bytes) gets its TCP checksum and joins the batch. */
  private commit(at: number, peerAddr: number, tcpLength: number): void {
    const frameLength = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + tcpLength;
    const view = this.tcp;
    view.attach(this.scratch, at + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH, tcpLength);
    view.fillChecksum(this.options.addr, peerAddr);
    this.scratchUsed = at + frameLength;
    pushFrame(this.tx, at, frameLength);
  }

  /** <SEQ=seq><ACK=ack?><CTL=RST(,ACK)> to the source of a segment (RFC 9293 §3.10.7.1), sent at the next flush. */
  private sendReset(peerMac: Uint8Array, peerAddr: number, peerPort: number, seq: number, ack: number, withAck: boolean): void {
    const at = this.room(TCP_MIN_HEADER_LENGTH);
    this.writeHeaders(this.scratch, at, peerMac, peerAddr, peerPort, seq, ack, TCP_FLAG.rst | (withAck ? TCP_FLAG.ack : 0), 0, TCP_MIN_HEADER_LENGTH, 0);
    this.commit(at, peerAddr, TCP_MIN_HEADER_LENGTH);
    this.counters.resetsSent++;
    this.scheduleFlush();
  }

  /** Ethernet, IPv4 (checksummed) and the TCP header without its checksum, at `buf[at]`. */
  private writeHeaders(buf: Uint8Array, at: number, peerMac: Uint8Array, peerAddr: number, peerPort: number, seq: number, ack: number,
    flags: number, window: number, tcpHeader: number, length: number): void {
    const o = this.options;
    buf.set(peerMac, at);
    buf.set(o.mac, at + 6);
    writeU16(buf, at + 12, ETHERTYPE.ipv4);
    const ip = at + ETHERNET_HEADER_LENGTH;
    buf[ip] = 0x45;
    buf[ip + 1] = 0;
    writeU16(buf, ip + 2, IPV4_MIN_HEADER_LENGTH + tcpHeader + length);
    writeU16(buf, ip + 4, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeU16(buf, ip + 6, 0x4000); // DF
    buf[ip + 8] = TTL;
    buf[ip + 9] = IP_PROTOCOL.tcp;
    writeU16(buf, ip + 10, 0);
    writeU32(buf, ip + 12, o.addr);
    writeU32(buf, ip + 16, peerAddr);
    writeU16(buf, ip + 10, internetChecksum(buf, ip, IPV4_MIN_HEADER_LENGTH));
    const t = ip + IPV4_MIN_HEADER_LENGTH;
    writeU16(buf, t, o.port);
    writeU16(buf, t + 2, peerPort);
    writeU32(buf, t + 4, seq);
    writeU32(buf, t + 8, ack);
    buf[t + 12] = (tcpHeader / 4) << 4;
    buf[t + 13] = flags;
    writeU16(buf, t + 14, window);
    writeU16(buf, t + 16, 0);
    writeU16(buf, t + 18, 0);
  }

  /** Writes the batch out and starts an empty one. */
  private transmit(): void {
    if (this.tx.count > 0) this.options.transmit(this.tx);
    this.tx.count = 0;
    this.scratchUsed = 0;
  }

  // ---------------------------------------------------------------- ending

  /** Sends RST (sequence `sndNxt`) and forgets the connection; the socket, if any, fails with ECONNRESET. */
  reset(conn: Connection): void {
    if (conn.state === STATE.closed) return;
    this.sendReset(conn.peerMac, conn.peerAddr, conn.peerPort, conn.sndNxt, conn.rcvNxt, true);
    this.fail(conn, 'ECONNRESET');
  }

  /** Ends a connection on an error: its socket is destroyed with `code`, the connection forgotten. */
  private fail(conn: Connection, code: 'ECONNRESET' | 'ETIMEDOUT'): void {
    this.forget(conn);
    const socket = conn.socket;
    if (socket && !socket.destroyed) {
      const error = Object.assign(new Error(code === 'ECONNRESET' ? 'connection reset by peer' : 'connection timed out'), { code });
      socket.fail(error);
    }
  }

  private forget(conn: Connection): void {
    conn.state = STATE.closed;
    if (this.connections.get(conn.key) === conn) this.connections.delete(conn.key);
    this.dirty.delete(conn);
    this.timed.delete(conn);
    this.inboxes.delete(conn);
    for (const release of conn.waiting.splice(0)) release();
  }

  /** `conn` has a deadline: the timer runs while any connection has one. */
  private watch(conn: Connection): void {
    this.timed.add(conn);
    if (this.timer !== null || this.closed) return;
    this.timer = setInterval(() => this.tick(this.options.now()), TIMER_STEP_MS);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
