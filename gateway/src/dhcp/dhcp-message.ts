/**
 * DHCP (RFC 2131) / BOOTP message codec with the options of RFC 2132 we use.
 * Pure: parses a UDP payload into a plain object and emits one into a caller's
 * buffer. Malformed input returns a reason string; nothing here throws on bytes.
 */

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const MAGIC_COOKIE = 0x63825363;
/** Fixed BOOTP header (236 bytes) + magic cookie. */
const FIXED_LENGTH = 240;

export const DHCP_MESSAGE_TYPE = {
  discover: 1, offer: 2, request: 3, decline: 4, ack: 5, nak: 6, release: 7, inform: 8,
} as const;
export type DhcpMessageType = (typeof DHCP_MESSAGE_TYPE)[keyof typeof DHCP_MESSAGE_TYPE];

export const DHCP_OPTION = {
  pad: 0, subnetMask: 1, router: 3, dnsServers: 6, hostName: 12, domainName: 15, broadcastAddress: 28,
  requestedAddress: 50, leaseTime: 51, messageType: 53, serverId: 54, parameterList: 55, message: 56,
  renewalTime: 58, rebindingTime: 59, clientId: 61, end: 255,
} as const;

export interface DhcpMessage {
  op: 1 | 2;
  xid: number;
  secs: number;
  /** Bit 15: the client wants the answer broadcast. */
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** Client hardware address (6 bytes for Ethernet). */
  chaddr: Uint8Array;
  messageType: DhcpMessageType | 0;
  /** Options by code, raw values (copies). Message type is also in `messageType`. */
  options: Map<number, Uint8Array>;
}

export type DhcpParseError = 'truncated' | 'bad-op' | 'bad-hardware' | 'bad-cookie' | 'bad-option' | 'no-message-type';

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}

/** Parses a DHCP message from a UDP payload. Options 52 (overload) in sname/file are ignored. */
export function parseDhcp(buf: Uint8Array): DhcpMessage | DhcpParseError {
  if (buf.length < FIXED_LENGTH) return 'truncated';
  const op = buf[0]!;
  if (op !== 1 && op !== 2) return 'bad-op';
  if (buf[1] !== 1 || buf[2] !== 6) return 'bad-hardware';
  if (u32(buf, 236) !== MAGIC_COOKIE) return 'bad-cookie';
  const options = new Map<number, Uint8Array>();
  let o = FIXED_LENGTH;
  let ended = false;
  while (o < buf.length) {
    const code = buf[o]!;
    if (code === DHCP_OPTION.pad) { o++; continue; }
    if (code === DHCP_OPTION.end) { ended = true; break; }
    if (o + 1 >= buf.length) return 'bad-option';
    const len = buf[o + 1]!;
    if (o + 2 + len > buf.length) return 'bad-option';
    // RFC 3396: a repeated option is concatenated.
    const value = buf.slice(o + 2, o + 2 + len);
    const prev = options.get(code);
    if (prev) {
      const joined = new Uint8Array(prev.length + value.length);
      joined.set(prev); joined.set(value, prev.length);
      options.set(code, joined);
    } else {
      options.set(code, value);
    }
    o += 2 + len;
  }
  if (!ended && o > buf.length) return 'bad-option';
  const mt = options.get(DHCP_OPTION.messageType);
  if (!mt || mt.length !== 1 || mt[0]! < 1 || mt[0]! > 8) return 'no-message-type';
  return {
    op, xid: u32(buf, 4), secs: (buf[8]! << 8) | buf[9]!, flags: (buf[10]! << 8) | buf[11]!,
    ciaddr: u32(buf, 12), yiaddr: u32(buf, 16), siaddr: u32(buf, 20), giaddr: u32(buf, 24),
    chaddr: buf.slice(28, 34), messageType: mt[0] as DhcpMessageType, options,
  };
}

/** Reads an option holding one IPv4 address, or null. */
export function optionAddress(m: DhcpMessage, code: number): number | null {
  const v = m.options.get(code);
  return v && v.length === 4 ? u32(v, 0) : null;
}

/** An option's value is at most 255 bytes; a longer one goes out as several (RFC 3396). */
const OPTION_MAX = 255;

/** Bytes an option takes on the wire: a code and length per piece of at most 255 value bytes. */
function optionWireLength(v: Uint8Array): number {
  return v.length + 2 * Math.max(1, Math.ceil(v.length / OPTION_MAX));
}

/** Length `emitDhcp` needs for a message (300 bytes minimum, as many BOOTP clients require). */
export function dhcpBufferLength(m: DhcpMessage): number {
  let n = FIXED_LENGTH + 3; // + message type option
  for (const [code, v] of m.options) if (code !== DHCP_OPTION.messageType) n += optionWireLength(v);
  return Math.max(n + 1, 300);
}

/** Writes `m` into `buf` at `offset` (zero-filled first); returns the bytes written. */
export function emitDhcp(m: DhcpMessage, buf: Uint8Array, offset = 0): number {
  const len = dhcpBufferLength(m);
  const b = buf.subarray(offset, offset + len);
  b.fill(0);
  b[0] = m.op; b[1] = 1; b[2] = 6; b[3] = 0;
  putU32(b, 4, m.xid);
  b[8] = m.secs >>> 8; b[9] = m.secs & 0xff; b[10] = m.flags >>> 8; b[11] = m.flags & 0xff;
  putU32(b, 12, m.ciaddr); putU32(b, 16, m.yiaddr); putU32(b, 20, m.siaddr); putU32(b, 24, m.giaddr);
  b.set(m.chaddr.subarray(0, 16), 28);
  putU32(b, 236, MAGIC_COOKIE);
  let o = FIXED_LENGTH;
  b[o++] = DHCP_OPTION.messageType; b[o++] = 1; b[o++] = m.messageType;
  for (const [code, v] of m.options) {
    if (code === DHCP_OPTION.messageType) continue;
    // Pieces of at most 255 bytes, in order: the parser concatenates them back (RFC 3396).
    let at = 0;
    do {
      const n = Math.min(OPTION_MAX, v.length - at);
      b[o++] = code; b[o++] = n; b.set(v.subarray(at, at + n), o); o += n;
      at += n;
    } while (at < v.length);
  }
  b[o] = DHCP_OPTION.end;
  return len;
}

/** Option value helpers. */
export function addrOption(...addrs: number[]): Uint8Array {
  const v = new Uint8Array(4 * addrs.length);
  addrs.forEach((a, i) => putU32(v, 4 * i, a));
  return v;
}

export function u32Option(n: number): Uint8Array {
  const v = new Uint8Array(4);
  putU32(v, 0, n);
  return v;
}
