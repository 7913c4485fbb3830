/**
 * The userspace TCP endpoint against segments built as RFC 9293's figures show them
 * (§3.5 Figure 6, the three-way handshake; §3.6 Figures 12–13, the close), written with
 * nat-table's own emitters and read back with its views: not with the endpoint's writer.
 */
import { describe, test } from 'node:test';
import { createServer } from 'node:http';
import assert from 'node:assert/strict';
import {
  ETHERTYPE, IP_PROTOCOL, Ipv4Packet, TCP_FLAG, TcpPacket, emitIpv4, emitTcp, parseIpv4, parseMac, readU16,
} from '@openigd/nat-table';
import { ServiceTcp, type ServiceTcpOptions } from './service-tcp.js';
import type { ServiceSocket } from './service-socket.js';
import type { FrameBatch } from '../link/index.js';

const GW = parseIpv4('192.168.1.1')!;
const HOST = parseIpv4('192.168.1.100')!;
const GW_MAC = parseMac('02:00:00:00:00:01')!;
const HOST_MAC = parseMac('02:00:00:00:00:64')!;
const PORT = 5000;
const { syn, ack, fin, rst, psh } = TCP_FLAG;

interface Sent {
  readonly dstMac: string;
  readonly srcMac: string;
  readonly src: number;
  readonly dst: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly options: number[];
  readonly payload: Buffer;
  readonly checksumsOk: boolean;
}

interface ClientSegment {
  readonly port?: number;
  readonly seq: number;
  readonly ack?: number;
  readonly flags: number;
  readonly window?: number;
  /** Raw TCP options, padded to 4 bytes by the caller. */
  readonly options?: number[];
  readonly payload?: string | Buffer;
  readonly corrupt?: boolean;
}

const hex = (m: Uint8Array) => Buffer.from(m).toString('hex');

/** Reads one frame the endpoint wrote (a copy: the batch is reused). */
function parseSent(batch: FrameBatch, i: number): Sent {
  const frame = batch.buffer.slice(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!);
  assert.equal(readU16(frame, 12), ETHERTYPE.ipv4);
  const ip = new Ipv4Packet();
  assert.equal(ip.attach(frame, 14, frame.length - 14), 'ok');
  assert.equal(ip.protocol, IP_PROTOCOL.tcp);
  const tcp = new TcpPacket();
  assert.equal(tcp.attach(frame, ip.payloadOffset, ip.payloadLength), 'ok');
  return {
    dstMac: hex(frame.subarray(0, 6)), srcMac: hex(frame.subarray(6, 12)), src: ip.srcAddr, dst: ip.dstAddr,
    srcPort: tcp.srcPort, dstPort: tcp.dstPort, seq: tcp.seqNumber, ack: tcp.ackNumber, flags: tcp.flags, window: tcp.window,
    options: [...tcp.options()], payload: Buffer.from(tcp.payload()),
    checksumsOk: ip.verifyChecksum() && tcp.verifyChecksum(ip.srcAddr, ip.dstAddr),
  };
}

class Harness {
  now = 10_000;
  sent: Sent[] = [];
  readonly sockets: ServiceSocket[] = [];
  readonly tcp: ServiceTcp;

  constructor(options: Partial<ServiceTcpOptions> = {}) {
    this.tcp = new ServiceTcp({
      addr: GW, mac: GW_MAC, port: PORT, mtu: 1500, maxConnections: 4, now: () => this.now,
      transmit: (b) => {
        for (let i = 0; i < b.count; i++) this.sent.push(parseSent(b, i));
      },
      accept: (s) => this.sockets.push(s),
      ...options,
    });
  }

  /** A segment from HOST:port (default 40000) to GW:5000, as the LAN delivers it. */
  send(s: ClientSegment): void {
    const payload = typeof s.payload === 'string' ? Buffer.from(s.payload) : (s.payload ?? Buffer.alloc(0));
    const options = s.options ? Uint8Array.from(s.options) : undefined;
    const frame = new Uint8Array(14 + 20 + 60 + payload.length);
    frame.set(GW_MAC, 0);
    frame.set(HOST_MAC, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    const tcpLength = emitTcp({
      srcPort: s.port ?? 40_000, dstPort: PORT, seqNumber: s.seq >>> 0, ackNumber: (s.ack ?? 0) >>> 0, flags: s.flags,
      window: s.window ?? 64_240, payloadLength: payload.length, ...(options ? { options } : {}),
    }, payload, HOST, GW, frame, 34);
    assert.ok(tcpLength > 0);
    assert.equal(emitIpv4({ srcAddr: HOST, dstAddr: GW, protocol: IP_PROTOCOL.tcp, payloadLength: tcpLength, ttl: 64, dontFragment: true }, frame, 14), 20);
    if (s.corrupt) frame[34 + tcpLength - 1]! ^= 0xff;
    const ip = new Ipv4Packet();
    assert.equal(ip.attach(frame, 14, 20 + tcpLength), 'ok');
    this.tcp.receive(frame.subarray(0, 34 + tcpLength), 0, ip, 0);
  }

  /** Lets the endpoint deliver (process.nextTick) and flush (setImmediate); returns what it sent since the last call. */
  async out(): Promise<Sent[]> {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const s = this.sent;
    this.sent = [];
    return s;
  }

  /** RFC 9293 Figure 6: SYN (seq 100, MSS 1460) → SYN-ACK → ACK; returns the endpoint's ISS. */
  async connect(port = 40_000, mss = 1460, window = 64_240): Promise<number> {
    this.send({ port, seq: 100, flags: syn, window, options: [2, 4, mss >> 8, mss & 0xff] });
    const [synAck] = await this.out();
    assert.ok(synAck);
    this.send({ port, seq: 101, ack: synAck.seq + 1, flags: ack, window });
    await this.out();
    return synAck.seq;
  }
}

const read = (socket: ServiceSocket): Promise<string> => new Promise((resolve, reject) => {
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString(); });
  socket.once('end', () => resolve(text));
  socket.once('error', reject);
});

describe('ServiceTcp', () => {
  test('the three-way handshake (RFC 9293 Figure 6): SYN-ACK to the sender, MSS and no window scaling offered, then the socket', async () => {
    const h = new Harness();
    // SYN with MSS 1460, SACK permitted, window scale 7 (as Linux sends them): only the MSS is answered.
    h.send({ seq: 100, flags: syn, options: [2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7, 0, 0] });
    const [synAck, ...more] = await h.out();
    assert.equal(more.length, 0);
    assert.ok(synAck);
    assert.deepEqual(
      { dstMac: synAck.dstMac, srcMac: synAck.srcMac, src: synAck.src, dst: synAck.dst, srcPort: synAck.srcPort, dstPort: synAck.dstPort, ack: synAck.ack, flags: synAck.flags, window: synAck.window, options: synAck.options, ok: synAck.checksumsOk },
      { dstMac: hex(HOST_MAC), srcMac: hex(GW_MAC), src: GW, dst: HOST, srcPort: PORT, dstPort: 40_000, ack: 101, flags: syn | ack, window: 65_535, options: [2, 4, 0x05, 0xb4], ok: true },
    );
    assert.equal(h.sockets.length, 0, 'no socket before the handshake completes');
    h.send({ seq: 101, ack: synAck.seq + 1, flags: ack });
    assert.deepEqual(await h.out(), [], 'the final ACK is not answered');
    assert.equal(h.sockets.length, 1);
    const s = h.sockets[0]!;
    assert.deepEqual([s.remoteAddress, s.remotePort, s.localAddress, s.localPort], ['192.168.1.100', 40_000, '192.168.1.1', 5000]);
    assert.equal(h.tcp.status().accepted, 1);
  });

  test('a request and its answer: data in order reaches the socket; the answer, its ACK and FIN leave in one segment', async () => {
    const h = new Harness();
    const iss = await h.connect();
    const s = h.sockets[0]!;
    s.on('data', (d: Buffer) => {
      assert.equal(d.toString(), 'GET / HTTP/1.1\r\n\r\n');
      s.end('HTTP/1.1 200 OK\r\n\r\n');
    });
    h.send({ seq: 101, ack: iss + 1, flags: ack | psh, payload: 'GET / HTTP/1.1\r\n\r\n' });
    const [answer, ...more] = await h.out();
    assert.equal(more.length, 0, 'one segment');
    assert.ok(answer);
    assert.equal(answer.payload.toString(), 'HTTP/1.1 200 OK\r\n\r\n');
    assert.equal(answer.seq, iss + 1);
    assert.equal(answer.ack, 101 + 18);
    assert.equal(answer.flags, ack | psh | fin);
    assert.ok(answer.checksumsOk);
    // RFC 9293 Figure 12: the peer acknowledges data and FIN, then sends its FIN; we acknowledge it and forget the connection.
    h.send({ seq: 119, ack: iss + 1 + 19 + 1, flags: ack });
    h.send({ seq: 119, ack: iss + 21, flags: fin | ack });
    const [lastAck] = await h.out();
    assert.ok(lastAck);
    assert.deepEqual([lastAck.seq, lastAck.ack, lastAck.flags], [iss + 21, 120, ack]);
    assert.equal(h.tcp.open, 0);
  });

  test('the peer closes first (CLOSE-WAIT, LAST-ACK): the socket ends, our FIN follows the application\'s end', async () => {
    const h = new Harness();
    const iss = await h.connect();
    const s = h.sockets[0]!;
    const text = read(s);
    h.send({ seq: 101, ack: iss + 1, flags: ack | psh | fin, payload: 'bye' });
    const [ackOfFin] = await h.out();
    assert.deepEqual([ackOfFin?.ack, ackOfFin?.flags], [105, ack]);
    assert.equal(await text, 'bye');
    s.end();
    const [ourFin] = await h.out();
    assert.deepEqual([ourFin?.seq, ourFin?.flags], [iss + 1, fin | ack]);
    assert.equal(h.tcp.open, 1, 'LAST-ACK until the FIN is acknowledged');
    h.send({ seq: 105, ack: iss + 2, flags: ack });
    await h.out();
    assert.equal(h.tcp.open, 0);
  });

  test('out of order: a segment after a gap is dropped and answered with an ACK of what is in order; a retransmission overlapping old data is trimmed', async () => {
    const h = new Harness();
    const iss = await h.connect();
    const s = h.sockets[0]!;
    const chunks: string[] = [];
    s.on('data', (d: Buffer) => chunks.push(d.toString()));
    h.send({ seq: 106, ack: iss + 1, flags: ack, payload: 'world' });
    const [dup] = await h.out();
    assert.deepEqual([dup?.ack, dup?.payload.length], [101, 0]);
    assert.deepEqual(chunks, []);
    h.send({ seq: 101, ack: iss + 1, flags: ack, payload: 'hello' });
    h.send({ seq: 103, ack: iss + 1, flags: ack, payload: 'lloworld' }); // 3 bytes already had
    const acks = await h.out();
    assert.equal(acks.at(-1)?.ack, 111);
    assert.equal(chunks.join(''), 'helloworld');
    assert.equal(h.tcp.status().dropped, 1);
  });

  test('a write larger than the window: at most the peer\'s window in flight, in MSS-sized segments, the rest after its ACK', async () => {
    const h = new Harness();
    const iss = await h.connect(40_000, 536, 2000);
    const s = h.sockets[0]!;
    const body = Buffer.alloc(5000, 'x');
    s.write(body);
    const first = await h.out();
    assert.deepEqual(first.map((f) => f.payload.length), [536, 536, 536, 392]);
    assert.deepEqual(first.map((f) => f.seq - iss - 1), [0, 536, 1072, 1608]);
    h.send({ seq: 101, ack: iss + 1 + 2000, flags: ack, window: 4000 });
    const second = await h.out();
    assert.equal(second.reduce((n, f) => n + f.payload.length, 0), 3000);
    assert.ok(second.every((f) => f.payload.length <= 536));
    assert.equal(Buffer.concat([...first, ...second].map((f) => f.payload)).equals(body), true);
  });

  test('retransmission: unacknowledged data goes again from the oldest byte after the RTO, then every doubled RTO; after the last try the socket fails', async () => {
    const h = new Harness();
    const iss = await h.connect();
    const s = h.sockets[0]!;
    const failed = new Promise<Error>((resolve) => s.once('error', resolve));
    s.write('answer');
    const [first] = await h.out();
    assert.equal(first?.payload.toString(), 'answer');
    h.now += 199;
    h.tcp.tick(h.now);
    assert.deepEqual(await h.out(), [], 'not before the RTO');
    h.now += 1;
    h.tcp.tick(h.now);
    const [again] = await h.out();
    assert.deepEqual([again?.seq, again?.payload.toString()], [iss + 1, 'answer']);
    assert.equal(h.tcp.status().retransmits, 1);
    // 400, 800, … ms later: seven more, then it gives up with RST.
    let rto = 400;
    for (let i = 0; i < 7; i++) {
      h.now += rto;
      h.tcp.tick(h.now);
      assert.equal((await h.out()).length, 1);
      rto *= 2;
    }
    // Given up, as Linux does after tcp_retries2: no RST to a peer that has not answered for so long.
    h.now += rto;
    h.tcp.tick(h.now);
    assert.deepEqual(await h.out(), []);
    assert.equal((await failed).message, 'connection timed out');
    assert.equal(h.tcp.open, 0);
  });

  test('a window the peer closed is probed with one byte after the RTO, and data flows again once it opens (RFC 9293 §3.8.6.1)', async () => {
    const h = new Harness();
    const iss = await h.connect(40_000, 1460, 0);
    h.sockets[0]!.write('answer');
    assert.deepEqual(await h.out(), [], 'nothing fits a zero window');
    h.now += 200;
    h.tcp.tick(h.now);
    const [probe] = await h.out();
    assert.deepEqual([probe?.seq, probe?.payload.toString()], [iss + 1, 'a']);
    h.send({ seq: 101, ack: iss + 2, flags: ack, window: 1000 });
    const [rest] = await h.out();
    assert.deepEqual([rest?.seq, rest?.payload.toString()], [iss + 2, 'nswer']);
  });

  test('after a timeout sent the oldest segment again, an ACK of everything first sent (FIN included) is taken: nothing more is sent', async () => {
    const h = new Harness();
    const iss = await h.connect();
    const s = h.sockets[0]!;
    s.end(Buffer.alloc(3000, 'y'));
    const first = await h.out();
    assert.deepEqual(first.map((f) => [f.payload.length, f.flags & fin]), [[1460, 0], [1460, 0], [80, fin]]);
    h.now += 200;
    h.tcp.tick(h.now);
    const [again, ...rest] = await h.out();
    assert.deepEqual([again?.seq, again?.payload.length, rest.length], [iss + 1, 1460, 0], 'go-back-N with a window of one segment');
    // The peer had all of it (only the first ACK was lost): it acknowledges data and FIN.
    h.send({ seq: 101, ack: iss + 1 + 3000 + 1, flags: ack });
    assert.deepEqual(await h.out(), []);
    h.now += 10_000; // within FIN-WAIT-2's 30 s
    h.tcp.tick(h.now);
    assert.deepEqual(await h.out(), [], 'no retransmission of what was acknowledged');
    h.send({ seq: 101, ack: iss + 3002, flags: fin | ack });
    const [last] = await h.out();
    assert.deepEqual([last?.ack, last?.flags], [102, ack]);
    assert.equal(h.tcp.open, 0);
  });

  test('an ACK of the retransmitted data stops the timer', async () => {
    const h = new Harness();
    const iss = await h.connect();
    h.sockets[0]!.write('answer');
    await h.out();
    h.send({ seq: 101, ack: iss + 7, flags: ack });
    h.now += 10_000;
    h.tcp.tick(h.now);
    assert.deepEqual(await h.out(), []);
  });

  test('the SYN-ACK is sent again after 1 s, 2 s, 4 s and 8 s without an answer; then the half-open connection is forgotten', async () => {
    const h = new Harness();
    h.send({ seq: 100, flags: syn });
    assert.equal((await h.out()).length, 1);
    for (const wait of [1000, 2000, 4000, 8000]) {
      h.now += wait;
      h.tcp.tick(h.now);
      const [again] = await h.out();
      assert.deepEqual([again?.flags, again?.ack], [syn | ack, 101]);
    }
    h.now += 16_000;
    h.tcp.tick(h.now);
    assert.deepEqual(await h.out(), []);
    assert.equal(h.tcp.open, 0);
    assert.equal(h.tcp.status().timedOut, 1);
  });

  test('a segment of no connection: RST with the sequence number it acknowledged (RFC 9293 §3.10.7.1); a RST is not answered', async () => {
    const h = new Harness();
    h.send({ seq: 500, ack: 777, flags: ack, payload: 'late' });
    const [reset] = await h.out();
    assert.deepEqual([reset?.seq, reset?.flags, reset?.dstPort], [777, rst, 40_000]);
    h.send({ seq: 500, flags: rst });
    assert.deepEqual(await h.out(), []);
  });

  test('the peer resets: accepted only at the expected sequence number; the socket fails with ECONNRESET', async () => {
    const h = new Harness();
    await h.connect();
    const s = h.sockets[0]!;
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => s.once('error', resolve));
    h.send({ seq: 5000, flags: rst });
    await h.out();
    assert.equal(h.tcp.open, 1, 'a RST out of place is ignored');
    h.send({ seq: 101, flags: rst });
    assert.equal((await failed).code, 'ECONNRESET');
    assert.equal(h.tcp.open, 0);
    assert.equal(h.tcp.status().resetsReceived, 1);
  });

  test('a segment with a bad checksum is dropped and counted', async () => {
    const h = new Harness();
    h.send({ seq: 100, flags: syn, corrupt: true, payload: 'x' });
    assert.deepEqual(await h.out(), []);
    assert.equal(h.tcp.status().dropped, 1);
    assert.equal(h.tcp.open, 0);
  });

  test('full: the oldest half-open connection makes room for a new SYN; with none half-open the SYN is refused', async () => {
    const h = new Harness({ maxConnections: 2 });
    h.send({ port: 1, seq: 100, flags: syn });
    h.send({ port: 2, seq: 100, flags: syn });
    await h.out();
    h.send({ port: 3, seq: 100, flags: syn });
    const [synAck] = await h.out();
    assert.equal(synAck?.dstPort, 3);
    assert.equal(h.tcp.status().halfOpenDropped, 1);
    // Established both: now nothing can make room.
    const h2 = new Harness({ maxConnections: 2 });
    await h2.connect(1);
    await h2.connect(2);
    h2.send({ port: 3, seq: 100, flags: syn });
    assert.deepEqual(await h2.out(), []);
    assert.equal(h2.tcp.status().refused, 1);
  });

  test('a socket destroyed with data it did not read resets the connection, as the kernel does', async () => {
    const h = new Harness();
    const iss = await h.connect();
    const s = h.sockets[0]!;
    s.pause();
    h.send({ seq: 101, ack: iss + 1, flags: ack, payload: 'unread' });
    await h.out();
    s.destroy();
    const [reset] = await h.out();
    assert.equal(reset?.flags, rst | ack);
    assert.equal(h.tcp.open, 0);
  });

  test('a repeated SYN while the SYN-ACK is outstanding gets the same SYN-ACK', async () => {
    const h = new Harness();
    h.send({ seq: 100, flags: syn });
    const [first] = await h.out();
    h.send({ seq: 100, flags: syn });
    const [second] = await h.out();
    assert.deepEqual([second?.seq, second?.ack, second?.flags], [first?.seq, 101, syn | ack]);
    assert.equal(h.tcp.open, 1);
  });

  test('node:http serves its connections: keep-alive, then Connection: close ends with our FIN; an idle kept-alive connection times out', async () => {
    const server = createServer((req, res) => {
      // Answered in a microtask, as the IGD's handlers answer (after reading the body).
      queueMicrotask(() => {
        res.setHeader('Content-Type', 'text/plain');
        res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress}`);
      });
    });
    server.keepAliveTimeout = 50;
    const h: Harness = new Harness({
      accept: (socket) => {
        h.sockets.push(socket);
        server.emit('connection', socket);
      },
    });
    const iss = await h.connect();
    const keepAlive = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    h.send({ seq: 101, ack: iss + 1, flags: ack | psh, payload: keepAlive });
    const first = (await h.out()).filter((f) => f.payload.length > 0);
    const text = first.map((f) => f.payload.toString()).join('');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /GET \/a from 192\.168\.1\.100$/);
    assert.ok(first.every((f) => (f.flags & fin) === 0), 'kept alive');
    const sent = first.reduce((n, f) => n + f.payload.length, 0);
    const request = 'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    h.send({ seq: 101 + keepAlive.length, ack: iss + 1 + sent, flags: ack | psh, payload: request });
    const second = await h.out();
    assert.match(second.map((f) => f.payload.toString()).join(''), /GET \/b from 192\.168\.1\.100$/);
    assert.ok((second.at(-1)!.flags & fin) !== 0, 'the answer to Connection: close ends with FIN');
    // A request sent with the FIN in the same segment (a client that half-closes at once) still gets its answer.
    const iss3 = await h.connect(40_002);
    h.send({ port: 40_002, seq: 101, ack: iss3 + 1, flags: ack | psh | fin, payload: 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n' });
    const third = [...await h.out(), ...await h.out()];
    assert.match(third.map((f) => f.payload.toString()).join(''), /GET \/c from 192\.168\.1\.100$/);
    // A second connection left idle after its answer: node:http's keep-alive timeout (50 ms, our socket's setTimeout) ends it with a FIN.
    const iss2 = await h.connect(40_001);
    const idle = h.sockets.at(-1)!;
    h.send({ port: 40_001, seq: 101, ack: iss2 + 1, flags: ack | psh, payload: keepAlive });
    await h.out();
    const alive = setTimeout(() => assert.fail('the idle connection was not closed'), 5000); // the socket's own timer is unref'd
    await new Promise((resolve) => idle.once('close', resolve));
    clearTimeout(alive);
    const [bye] = await h.out();
    assert.deepEqual([bye?.dstPort, (bye?.flags ?? 0) & fin], [40_001, fin]);
    server.close();
  });
});
