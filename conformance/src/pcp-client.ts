/**
 * A PCP client for tests (RFC 6887), written from the RFC's packet figures alone so that
 * it can check our server rather than agree with it: it must not import anything of
 * igd-service. Encodes requests (Figure 2 header, Figure 9 MAP, Figure 11 PEER, the
 * THIRD_PARTY / PREFER_FAILURE / FILTER options of §13), decodes responses (Figure 3
 * header, Figures 10 and 12), and sends one request over UDP and waits for the answer.
 *
 * A response it cannot decode throws, with the reason (callers catch it).
 */
import type { Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export const PCP = {
  version: 2,
  serverPort: 5351,
  clientPort: 5350,
  opcode: { announce: 0, map: 1, peer: 2 },
  option: { thirdParty: 1, preferFailure: 2, filter: 3 },
  result: {
    SUCCESS: 0, UNSUPP_VERSION: 1, NOT_AUTHORIZED: 2, MALFORMED_REQUEST: 3, UNSUPP_OPCODE: 4, UNSUPP_OPTION: 5,
    MALFORMED_OPTION: 6, NETWORK_FAILURE: 7, NO_RESOURCES: 8, UNSUPP_PROTOCOL: 9, USER_EX_QUOTA: 10,
    CANNOT_PROVIDE_EXTERNAL: 11, ADDRESS_MISMATCH: 12, EXCESSIVE_REMOTE_PEERS: 13,
  },
} as const;

/** The RFC name of a result code, e.g. 'NOT_AUTHORIZED'. */
export function pcpResultText(code: number): string {
  const hit = Object.entries(PCP.result).find(([, v]) => v === code);
  return hit ? hit[0] : `unknown(${code})`;
}

export type ClientOption =
  | { kind: 'third-party'; internalIp: string }
  | { kind: 'prefer-failure' }
  | { kind: 'filter'; prefixLength: number; remotePort: number; remoteIp: string }
  | { kind: 'raw'; code: number; data: Uint8Array };

export interface ClientMapFields {
  /** 12 octets. */
  nonce: Uint8Array;
  protocol: number;
  internalPort: number;
  externalPort: number;
  /** '' for "no suggestion" (sent as ::ffff:0.0.0.0, the IPv4 any address). */
  externalIp: string;
}

export type ClientRequest =
  | { opcode: 'announce'; lifetime: number; clientIp: string; options?: ClientOption[] }
  | { opcode: 'map'; lifetime: number; clientIp: string; map: ClientMapFields; options?: ClientOption[] }
  | { opcode: 'peer'; lifetime: number; clientIp: string; map: ClientMapFields; remotePort: number; remoteIp: string; options?: ClientOption[] };

export interface ClientResponse {
  version: number;
  opcode: number;
  result: number;
  resultText: string;
  lifetime: number;
  epoch: number;
  /** Figure 10 / 12 fields, for MAP and PEER responses of at least their size. */
  map?: ClientMapFields;
  remotePort?: number;
  remoteIp?: string;
  options: { code: number; data: Uint8Array }[];
}

// ---- addresses: 128 bits, IPv4 as the IPv4-mapped IPv6 address (RFC 6887 §5) ----------

function ipToBytes(ip: string): Uint8Array {
  const out = new Uint8Array(16);
  if (ip === '') {
    out[10] = 0xff;
    out[11] = 0xff;
    return out;
  }
  if (isIPv4(ip)) {
    out[10] = 0xff;
    out[11] = 0xff;
    ip.split('.').forEach((part, i) => { out[12 + i] = Number(part); });
    return out;
  }
  if (!isIPv6(ip)) throw new Error(`pcp-client: not an IP address: ${ip}`);
  const [left, right] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const groups = right === undefined ? head : [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function bytesToIp(b: Uint8Array): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':'); // uncompressed: tests compare against what they sent
}

// ---- encoding --------------------------------------------------------------------------

function encodeOption(o: ClientOption): Buffer {
  let code: number;
  let data: Uint8Array;
  if (o.kind === 'third-party') {
    code = PCP.option.thirdParty;
    data = ipToBytes(o.internalIp);
  } else if (o.kind === 'prefer-failure') {
    code = PCP.option.preferFailure;
    data = new Uint8Array(0);
  } else if (o.kind === 'filter') {
    code = PCP.option.filter;
    const d = Buffer.alloc(20);
    d.writeUInt8(0, 0);
    d.writeUInt8(o.prefixLength, 1);
    d.writeUInt16BE(o.remotePort, 2);
    Buffer.from(ipToBytes(o.remoteIp)).copy(d, 4);
    data = d;
  } else {
    code = o.code;
    data = o.data;
  }
  const padded = Math.ceil(data.length / 4) * 4;
  const out = Buffer.alloc(4 + padded);
  out.writeUInt8(code, 0);
  out.writeUInt16BE(data.length, 2);
  Buffer.from(data).copy(out, 4);
  return out;
}

function encodeMapFields(m: ClientMapFields): Buffer {
  if (m.nonce.length !== 12) throw new Error('pcp-client: the nonce is 96 bits');
  const out = Buffer.alloc(36);
  Buffer.from(m.nonce).copy(out, 0);
  out.writeUInt8(m.protocol, 12);
  out.writeUInt16BE(m.internalPort, 16);
  out.writeUInt16BE(m.externalPort, 18);
  Buffer.from(ipToBytes(m.externalIp)).copy(out, 20);
  return out;
}

/** The request's bytes: common header, opcode data, options. */
export function encodeClientRequest(r: ClientRequest): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt8(PCP.version, 0);
  header.writeUInt8(PCP.opcode[r.opcode], 1); // R = 0
  header.writeUInt32BE(r.lifetime, 4);
  Buffer.from(ipToBytes(r.clientIp)).copy(header, 8);
  const parts: Buffer[] = [header];
  if (r.opcode === 'map' || r.opcode === 'peer') parts.push(encodeMapFields(r.map));
  if (r.opcode === 'peer') {
    const peer = Buffer.alloc(20);
    peer.writeUInt16BE(r.remotePort, 0);
    Buffer.from(ipToBytes(r.remoteIp)).copy(peer, 4);
    parts.push(peer);
  }
  for (const o of r.options ?? []) parts.push(encodeOption(o));
  return Buffer.concat(parts);
}

// ---- decoding --------------------------------------------------------------------------

function decodeMapFields(b: Buffer, at: number): ClientMapFields {
  return {
    nonce: Uint8Array.from(b.subarray(at, at + 12)),
    protocol: b.readUInt8(at + 12),
    internalPort: b.readUInt16BE(at + 16),
    externalPort: b.readUInt16BE(at + 18),
    externalIp: bytesToIp(b.subarray(at + 20, at + 36)),
  };
}

/** Decodes a response; throws when it is not one (too short, no R bit, bad length or options). */
export function decodeClientResponse(bytes: Uint8Array): ClientResponse {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 24) throw new Error(`pcp-client: response of ${b.length} octets`);
  if (b.length > 1100 || b.length % 4 !== 0) throw new Error(`pcp-client: bad response length ${b.length}`);
  if ((b[1] & 0x80) === 0) throw new Error('pcp-client: R bit clear in a response');
  const opcode = b[1] & 0x7f;
  const result = b.readUInt8(3);
  const out: ClientResponse = {
    version: b[0], opcode, result, resultText: pcpResultText(result), lifetime: b.readUInt32BE(4), epoch: b.readUInt32BE(8), options: [],
  };
  let at = 24;
  if (opcode === PCP.opcode.map || opcode === PCP.opcode.peer) {
    const size = opcode === PCP.opcode.map ? 36 : 56;
    if (b.length < 24 + size) throw new Error(`pcp-client: ${b.length}-octet response too short for opcode ${opcode}`);
    out.map = decodeMapFields(b, 24);
    if (opcode === PCP.opcode.peer) {
      out.remotePort = b.readUInt16BE(60);
      out.remoteIp = bytesToIp(b.subarray(64, 80));
    }
    at += size;
  }
  while (at < b.length) {
    const length = b.readUInt16BE(at + 2);
    const next = at + 4 + Math.ceil(length / 4) * 4;
    if (next > b.length) throw new Error(`pcp-client: option at ${at} runs past the response`);
    out.options.push({ code: b[at], data: Uint8Array.from(b.subarray(at + 4, at + 4 + length)) });
    at = next;
  }
  return out;
}

/**
 * Sends `packet` from `socket` (bound by the caller) to `server` and resolves with the
 * first datagram that comes back from that address and port; rejects after `timeoutMs`.
 * Other datagrams are ignored. The listener is removed either way.
 */
export function pcpRequest(socket: Socket, server: { address: string; port: number }, packet: Uint8Array, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
      if (rinfo.port !== server.port || rinfo.address.replace(/^::ffff:/, '') !== server.address.replace(/^::ffff:/, '')) return;
      done();
      resolve(msg);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`pcp-client: no answer from ${server.address}:${server.port} in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
    };
    socket.on('message', onMessage);
    socket.send(packet, server.port, server.address, (err) => {
      if (!err) return;
      done();
      reject(err);
    });
  });
}
