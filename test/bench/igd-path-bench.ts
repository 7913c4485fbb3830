/**
 * `npm run bench:igd-path` — the daemon's own CPU time for one UPnP control request, as
 * upnpc makes it (a new TCP connection, GetGenericPortMappingEntry, `Connection: close`),
 * from its first segment to its last: the gateway's userspace TCP endpoint (ServiceTcp) and
 * the IGD's HTTP server (`accept`) over an in-memory table of 100 mappings. No kernel, no
 * network, no disk: segments are handed to the endpoint as the router hands them, and its
 * frames are read back from the batch it writes. So this is the part of a request that the
 * daemon's code decides, without the machine's scheduling noise that `bench:igd` carries
 * (there, a request also spends ≈ 20 µs of the kernel's time in the TAP writes and as much
 * again in the client and its kernel).
 *
 * Two ways in one run, the same connections: the quick path (the request as upnpc sends
 * it) and node:http's path (the same request without `Connection: close`, which the quick
 * reader leaves to node:http; the client closes after the answer, as upnpc does). Each is
 * timed in rounds, in turn; the table gives the median per request of wall time and of the
 * process's CPU time (GC and compiler threads included).
 *
 *   node test/dist/bench/igd-path-bench.js [--requests 20000] [--rounds 5]
 *
 * Bounded: each request must finish within a few event-loop turns or the run fails.
 */
import { parseArgs } from 'node:util';
import { IP_PROTOCOL, Ipv4Packet, TCP_FLAG, TcpPacket, emitIpv4, emitTcp, parseIpv4, parseMac } from '@openigd/nat-table';
import { FrameFlag, ServiceTcp, type FrameBatch } from '@openigd/gateway';
import { Igd, MappingService, startIgdHttpServer } from '@openigd/igd-service';
import { ManualClock, MemoryMappingStore, MemoryPortMappingBackend } from '@openigd/igd-service/testing';
import { figureStats } from './lib/ab-report.js';
import { runBench } from './lib/bench-main.js';

const GW = parseIpv4('192.168.1.1')!;
const HOST = parseIpv4('192.168.1.100')!;
const GW_MAC = parseMac('02:00:00:00:00:01')!;
const HOST_MAC = parseMac('02:00:00:00:00:64')!;
const HTTP_PORT = 5000;
const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';
const SERVICE_TYPE = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const MAPPINGS = 100;
/** Event-loop turns a request may take to be answered or closed before the run fails. */
const MAX_TURNS = 8;
/** Connections from the client's ports 10000 … 10000 + PORTS − 1, in turn. */
const PORTS = 50_000;

type Way = 'quick' | 'node:http';

/** GetGenericPortMappingEntry(index) as upnpc writes it; without `Connection: close` for node:http's path. */
function requestBytes(index: number, way: Way): Buffer {
  const body = '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    + `<u:GetGenericPortMappingEntry xmlns:u="${SERVICE_TYPE}"><NewPortMappingIndex>${index}</NewPortMappingIndex>`
    + '</u:GetGenericPortMappingEntry></s:Body></s:Envelope>\r\n';
  const close = way === 'quick' ? 'Connection: close\r\n' : '';
  return Buffer.from(`POST /ctl/IPConn HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nUser-Agent: Debian/12, UPnP/1.1, MiniUPnPc/2.2.4\r\n`
    + `Content-Length: ${body.length}\r\nContent-Type: text/xml\r\nSOAPAction: "${SERVICE_TYPE}#GetGenericPortMappingEntry"\r\n${close}\r\n${body}`, 'latin1');
}

/** A segment as the endpoint wrote it: what the client needs to answer it, and whether its data starts a 200 answer. */
interface Segment { readonly seq: number; readonly flags: number; readonly length: number; readonly ok200: boolean }

const OK_200 = Buffer.from('HTTP/1.1 200 ', 'latin1');

/** One event-loop turn: the endpoint delivers on process.nextTick and sends on setImmediate. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The client side: builds segments into one frame buffer and reads the endpoint's back. */
class Client {
  private readonly frame = new Uint8Array(14 + 20 + 60 + 1500);
  private readonly ip = new Ipv4Packet();
  private readonly outIp = new Ipv4Packet();
  private readonly outTcp = new TcpPacket();
  received: Segment[] = [];
  endpoint!: ServiceTcp;

  /** The endpoint's transmit: keeps what the client reads of each frame. */
  readonly transmit = (batch: FrameBatch): void => {
    for (let i = 0; i < batch.count; i++) {
      const at = batch.offsets[i]!;
      const frame = batch.buffer.subarray(at, at + batch.lengths[i]!);
      if (this.outIp.attach(frame, 14, frame.length - 14) !== 'ok' || this.outTcp.attach(frame, this.outIp.payloadOffset, this.outIp.payloadLength) !== 'ok') {
        throw new Error('the endpoint wrote a frame that does not parse');
      }
      const payload = this.outTcp.payload();
      this.received.push({ seq: this.outTcp.seqNumber, flags: this.outTcp.flags, length: payload.length, ok200: OK_200.equals(payload.subarray(0, OK_200.length)) });
    }
  };

  send(port: number, seq: number, ack: number, flags: number, payload: Uint8Array = new Uint8Array(0)): void {
    const f = this.frame;
    f.set(GW_MAC, 0);
    f.set(HOST_MAC, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    const tcpLength = emitTcp({
      srcPort: port, dstPort: HTTP_PORT, seqNumber: seq >>> 0, ackNumber: ack >>> 0, flags, window: 64_240, payloadLength: payload.length,
      ...(flags & TCP_FLAG.syn ? { options: Uint8Array.from([2, 4, 0x05, 0xb4]) } : {}),
    }, payload, HOST, GW, f, 34);
    emitIpv4({ srcAddr: HOST, dstAddr: GW, protocol: IP_PROTOCOL.tcp, payloadLength: tcpLength, ttl: 64, dontFragment: true }, f, 14);
    if (this.ip.attach(f, 14, 20 + tcpLength) !== 'ok') throw new Error('the client built a frame that does not parse');
    this.endpoint.receive(f.subarray(0, 34 + tcpLength), 0, this.ip, FrameFlag.csumValid);
  }

  /** Takes what was received until `done` says enough, within MAX_TURNS event-loop turns. */
  async until(what: string, done: (s: readonly Segment[]) => boolean): Promise<Segment[]> {
    for (let i = 0; i < MAX_TURNS; i++) {
      if (done(this.received)) {
        const got = this.received;
        this.received = [];
        return got;
      }
      await turn();
    }
    throw new Error(`no ${what} within ${MAX_TURNS} turns`);
  }
}

/**
 * One request on a new connection, as upnpc makes it: handshake, the request, the answer
 * read to its end; then the client's FIN and the last ACKs. On the quick path the answer
 * carries the server's FIN; node:http closes after the client's.
 */
async function request(client: Client, port: number, bytes: Buffer): Promise<void> {
  const { syn, ack, psh, fin } = TCP_FLAG;
  client.send(port, 100, 0, syn);
  const [synAck] = await client.until('SYN-ACK', (s) => s.some((x) => (x.flags & syn) !== 0));
  const serverIss = synAck!.seq;
  client.send(port, 101, serverIss + 1, ack);
  client.send(port, 101, serverIss + 1, ack | psh, bytes);
  const answer = await client.until('answer', (s) => s.some((x) => x.length > 0));
  await turn();
  answer.push(...client.received.splice(0));
  const answered = answer.reduce((n, x) => n + x.length, 0);
  if (!answer.some((x) => x.ok200)) throw new Error(`an answer of ${answered} bytes that is not a 200`);
  const serverFin = answer.some((x) => (x.flags & fin) !== 0);
  const clientSeq = 101 + bytes.length;
  const serverNext = serverIss + 1 + answered;
  if (serverFin) {
    client.send(port, clientSeq, serverNext + 1, ack | fin);
    await client.until('last ACK', (s) => s.length > 0);
    return;
  }
  client.send(port, clientSeq, serverNext, ack | fin);
  await client.until('the server\'s FIN', (s) => s.some((x) => (x.flags & fin) !== 0));
  client.send(port, clientSeq + 1, serverNext + 1, ack);
}

/** Requests/round timings: wall and process CPU µs per request. */
interface Round { readonly way: Way; readonly wallUs: number; readonly cpuUs: number }

async function timeRound(client: Client, way: Way, requests: number, firstPort: number): Promise<Round> {
  const bodies = Array.from({ length: MAPPINGS }, (_, i) => requestBytes(i, way));
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) await request(client, 10_000 + ((firstPort + i) % PORTS), bodies[i % MAPPINGS]!);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000 / requests;
  const cpu = process.cpuUsage(cpu0);
  return { way, wallUs, cpuUs: (cpu.user + cpu.system) / requests };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { requests: { type: 'string' }, rounds: { type: 'string' } }, strict: true });
  const requests = Number(values.requests ?? 20_000);
  const rounds = Number(values.rounds ?? 5);
  if (!(Number.isInteger(requests) && requests >= 100 && requests <= 1_000_000) || !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) {
    console.error('usage: node test/dist/bench/igd-path-bench.js [--requests 100..1000000] [--rounds 1..20]');
    return 2;
  }
  const clock = new ManualClock();
  const igd = new Igd({ rootUuid: ROOT_UUID }, { mappings: new MappingService({}, { store: new MemoryMappingStore(), backend: new MemoryPortMappingBackend(), now: clock.now }) });
  await igd.start();
  const server = await startIgdHttpServer({ host: '127.0.0.1', port: 0, rootUuid: ROOT_UUID }, { igd });
  const client = new Client();
  const endpoint = new ServiceTcp({
    addr: GW, mac: GW_MAC, port: HTTP_PORT, mtu: 1500, maxConnections: 128, now: () => Date.now(), transmit: client.transmit, accept: (s) => server.accept(s),
  });
  client.endpoint = endpoint;
  try {
    for (let i = 0; i < MAPPINGS; i++) {
      const put = await igd.mappings.put({
        remoteHost: '', externalPort: 20_000 + i, protocol: 'TCP', internalPort: 20_000 + i, internalClient: '192.168.1.100',
        enabled: true, description: 'igd-path-bench', leaseSeconds: 0, origin: 'upnp', requester: '192.168.1.100',
      });
      if (!put.ok) throw new Error(`mapping ${i}: ${put.reason}`);
    }
    console.log(`igd-path bench: node ${process.version}, ${requests} requests a round, ${rounds} rounds a way, in turn, after a warm-up of ${requests / 4} each`);
    const ways: Way[] = ['quick', 'node:http'];
    let port = 0;
    for (const way of ways) {
      await timeRound(client, way, requests / 4, port);
      port += requests / 4;
    }
    const results: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const way of ways) {
        results.push(await timeRound(client, way, requests, port));
        port += requests;
      }
    }
    if (endpoint.open !== 0) throw new Error(`${endpoint.open} connections still open after the last round`);
    console.log('\nµs per request, median (range) | wall | CPU (all threads)');
    console.log('-------------------------------|------|------------------');
    for (const way of ways) {
      const mine = results.filter((r) => r.way === way);
      const cell = (v: number[]) => {
        const s = figureStats(v);
        return `${s.median!.toFixed(1)} (${s.min!.toFixed(1)}–${s.max!.toFixed(1)})`;
      };
      console.log(`${way.padEnd(31)}| ${cell(mine.map((r) => r.wallUs))} | ${cell(mine.map((r) => r.cpuUs))}`);
    }
    return 0;
  } finally {
    endpoint.close();
    await server.close();
    igd.close();
  }
}

await runBench('igd-path-bench', main);
