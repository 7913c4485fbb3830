/**
 * PCP messages (RFC 6887), pure: decode a request datagram into a typed request, or into
 * the result code the RFC gives for what is wrong with it, or into a counted drop; encode
 * success and error responses and the unsolicited ANNOUNCE. No sockets, no clock (the
 * epoch time is passed in), no mapping state.
 *
 * Decoding never throws and reads the caller's buffer in place: the request it returns
 * keeps `bytes` (the datagram) and views into it (`nonce`) rather than copies, so the
 * caller must not reuse the buffer while the request is in use, and whoever stores a
 * nonce must copy it. Addresses are 16-byte fields on the wire; an IPv4 address travels
 * as ::ffff:a.b.c.d and is read back as dotted decimal.
 */

/** The one version this server speaks. */
const PCP_VERSION = 2;
/** Servers listen here; clients send from any port (RFC 6887 §19.1). */
export const PCP_SERVER_PORT = 5351;
/** Where clients listen for ANNOUNCE (RFC 6887 §19.1). */
export const PCP_CLIENT_PORT = 5350;
/** The all-hosts group an IPv4 server multicasts ANNOUNCE to (RFC 6887 §14.1.3). */
export const PCP_ANNOUNCE_GROUP_V4 = '224.0.0.1';

/** Sizes from RFC 6887 §7. */
export const PCP_SIZE = {
  /** The common request and response header. */
  header: 24,
  /** The largest PCP message (§7). */
  maxMessage: 1100,
  /** Opcode-specific data of MAP (§11.1) and PEER (§12.1). */
  mapBody: 36,
  peerBody: 56,
  nonce: 12,
  address: 16,
  optionHeader: 4,
} as const;

export const PCP_OPCODE = { ANNOUNCE: 0, MAP: 1, PEER: 2 } as const;
export type PcpOpcode = (typeof PCP_OPCODE)[keyof typeof PCP_OPCODE];

export const PCP_OPTION = { THIRD_PARTY: 1, PREFER_FAILURE: 2, FILTER: 3 } as const;
/** Option data lengths (RFC 6887 §13.1–§13.3). */
const OPTION_DATA_LENGTH: Record<number, number> = { 1: 16, 2: 0, 3: 20 };
/** Options an opcode defines: THIRD_PARTY for MAP and PEER, PREFER_FAILURE and FILTER for MAP only. */
const OPTIONS_OF_OPCODE: Record<number, readonly number[]> = { 0: [], 1: [1, 2, 3], 2: [1] };

/** Result codes (RFC 6887 §7.4). */
export const PCP_RESULT = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;
export type PcpResultCode = (typeof PCP_RESULT)[keyof typeof PCP_RESULT];

/** The name of a result code, for logs and counters. */
export function pcpResultName(code: number): string {
  for (const [name, value] of Object.entries(PCP_RESULT)) if (value === code) return name;
  return `RESULT_${code}`;
}

/**
 * §7.4 sorts the errors into short-lived ones (a retry may soon succeed: the server lacks
 * something now) and long-lived ones (the same request will fail again).
 */
const SHORT_LIFETIME_ERRORS: ReadonlySet<number> = new Set([
  PCP_RESULT.NETWORK_FAILURE, PCP_RESULT.NO_RESOURCES, PCP_RESULT.USER_EX_QUOTA, PCP_RESULT.CANNOT_PROVIDE_EXTERNAL,
]);
export function isShortLifetimeError(code: PcpResultCode): boolean {
  return SHORT_LIFETIME_ERRORS.has(code);
}

/** Why a datagram got no answer at all (RFC 6887 §8.2 says these are silently dropped). */
export const PCP_DROP_REASON = {
  /** Fewer than 2 octets: not even the version and opcode. */
  tooShort: 'too-short',
  /** The R bit is set: a response, not a request. */
  response: 'response',
  /** Version 2 but shorter than the 24-octet header. */
  headerTooShort: 'header-too-short',
} as const;
export type PcpDropReason = (typeof PCP_DROP_REASON)[keyof typeof PCP_DROP_REASON];

/** One FILTER option (RFC 6887 §13.3): remote peers allowed to reach the mapping. */
export interface PcpFilter {
  /** 0 removes every filter; an IPv4 peer's prefix counts the 96 bits of ::ffff:0:0/96. */
  readonly prefixLength: number;
  /** 0: every port. */
  readonly remotePort: number;
  readonly remoteAddress: string;
}

interface PcpRequestBase {
  /** The whole datagram (owned by the caller, not copied). */
  readonly bytes: Uint8Array;
  readonly requestedLifetimeSeconds: number;
  /** The PCP Client's IP Address field. */
  readonly clientAddress: string;
  /** THIRD_PARTY: the internal address the request is made for, when present. */
  readonly thirdParty: string | undefined;
  readonly preferFailure: boolean;
  /** FILTER options in the order sent (empty when none). */
  readonly filters: readonly PcpFilter[];
  /**
   * The understood options as [start, end) offsets into `bytes`, two numbers per option:
   * a success response carries these and no others (§7.3).
   */
  readonly processedOptions: readonly number[];
}

export interface PcpAnnounceRequest extends PcpRequestBase {
  readonly opcode: typeof PCP_OPCODE.ANNOUNCE;
}

/** The fields MAP and PEER share (RFC 6887 §11.1, §12.1). */
export interface PcpMappingFields {
  /** A view into `bytes`, 12 octets. */
  readonly nonce: Uint8Array;
  /** IANA protocol number; 0 means every protocol. */
  readonly protocol: number;
  /** 0 means every port (MAP only). */
  readonly internalPort: number;
  /** 0: no suggestion. */
  readonly suggestedExternalPort: number;
  /** undefined: no suggestion (the field held :: or ::ffff:0.0.0.0). */
  readonly suggestedExternalAddress: string | undefined;
}

export interface PcpMapRequest extends PcpRequestBase, PcpMappingFields {
  readonly opcode: typeof PCP_OPCODE.MAP;
}

export interface PcpPeerRequest extends PcpRequestBase, PcpMappingFields {
  readonly opcode: typeof PCP_OPCODE.PEER;
  readonly remotePeerPort: number;
  readonly remotePeerAddress: string;
}

export type PcpRequest = PcpAnnounceRequest | PcpMapRequest | PcpPeerRequest;

/**
 * What a datagram is: a request to process, an error to answer (with the result code and
 * whether the request was parsed far enough to echo it as is; §7.2: an unparsed request's
 * response carries the last 96 bits of its client address instead of zeros), or a drop.
 */
export type PcpDecodeResult =
  | { readonly kind: 'request'; readonly request: PcpRequest }
  | { readonly kind: 'error'; readonly result: PcpResultCode; readonly parsed: boolean }
  | { readonly kind: 'drop'; readonly reason: PcpDropReason };

// ---- field offsets ---------------------------------------------------------------------

const OFF = {
  version: 0,
  opcode: 1,
  resultCode: 3,
  lifetime: 4,
  clientAddress: 8,
  epochTime: 8,
  responseReserved: 12,
  body: 24,
} as const;
/** Within the MAP and PEER bodies. */
const BODY = {
  nonce: 0,
  protocol: 12,
  internalPort: 16,
  externalPort: 18,
  externalAddress: 20,
  remotePeerPort: 36,
  remotePeerAddress: 40,
} as const;
const R_BIT = 0x80;
const FIRST_OPTIONAL_CODE = 128;

function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}
function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]);
}
function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}
function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

// ---- addresses -------------------------------------------------------------------------

/** True when the 16 octets at `off` are ::ffff:a.b.c.d (all 96 prefix bits checked). */
export function isIpv4MappedAt(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** True for the two spellings of "no address" (RFC 6887 §5): :: and ::ffff:0.0.0.0. */
export function isUnspecifiedAt(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  const mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  if (!mapped && (b[off + 10] !== 0 || b[off + 11] !== 0)) return false;
  return b[off + 12] === 0 && b[off + 13] === 0 && b[off + 14] === 0 && b[off + 15] === 0;
}

/** Reads a 16-octet address field: dotted decimal for ::ffff:a.b.c.d, RFC 5952 text otherwise. */
export function readPcpAddress(b: Uint8Array, off: number): string {
  if (isIpv4MappedAt(b, off)) return `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(readU16(b, off + 2 * i));
  return formatIpv6(words);
}

/** RFC 5952 §4: lowercase, no leading zeros, the longest run (≥ 2) of zero words as ::. */
function formatIpv6(words: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

const IPV4_TEXT = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Writes `address` (dotted decimal, as ::ffff:a.b.c.d; or IPv6 text; a `::ffff:` prefix
 * on dotted decimal is accepted) into the 16 octets at `off`. Returns false, writing
 * nothing, when it is neither.
 */
export function writePcpAddress(b: Uint8Array, off: number, address: string): boolean {
  const text = address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  const v4 = IPV4_TEXT.exec(text);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    if (octets.some((o) => o > 255)) return false;
    b.fill(0, off, off + 10);
    b[off + 10] = 0xff;
    b[off + 11] = 0xff;
    for (let i = 0; i < 4; i++) b[off + 12 + i] = octets[i];
    return true;
  }
  const words = parseIpv6(text);
  if (!words) return false;
  for (let i = 0; i < 8; i++) writeU16(b, off + 2 * i, words[i]);
  return true;
}

const HEX_WORD = /^[0-9a-f]{1,4}$/i;

/** Eight 16-bit words from IPv6 text (hex groups with at most one ::), or undefined. */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => HEX_WORD.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

/**
 * A socket's address text as `readPcpAddress` spells the same address: dotted decimal for
 * plain or ::ffff:a.b.c.d IPv4; IPv6 lowercased and without a zone (fe80::1%eth0).
 */
export function normalizeAddressText(address: string): string {
  const zone = address.indexOf('%');
  const text = (zone < 0 ? address : address.slice(0, zone)).toLowerCase();
  return text.startsWith('::ffff:') && IPV4_TEXT.test(text.slice(7)) ? text.slice(7) : text;
}

// ---- decoding --------------------------------------------------------------------------

const NO_FILTERS: readonly PcpFilter[] = Object.freeze([]);

/** The opcode-specific data length, or -1 for an opcode this server does not implement. */
function bodyLength(opcode: number): number {
  if (opcode === PCP_OPCODE.ANNOUNCE) return 0;
  if (opcode === PCP_OPCODE.MAP) return PCP_SIZE.mapBody;
  if (opcode === PCP_OPCODE.PEER) return PCP_SIZE.peerBody;
  return -1;
}

/**
 * Decodes one request datagram, checking in the order of RFC 6887 §8.2: fewer than 2
 * octets or the R bit set → drop; another version → UNSUPP_VERSION; under 24 octets →
 * drop; over 1100 octets or not a multiple of 4 → MALFORMED_REQUEST; an opcode we do not
 * implement → UNSUPP_OPCODE; too short for its opcode → MALFORMED_REQUEST; then the
 * options (§7.3, §13) and the opcode's own field rules. The source address is not
 * checked here (that is ADDRESS_MISMATCH, the engine's). `packet` is only read.
 */
export function decodePcpRequest(packet: Uint8Array): PcpDecodeResult {
  const length = packet.length;
  if (length < 2) return { kind: 'drop', reason: PCP_DROP_REASON.tooShort };
  if ((packet[OFF.opcode] & R_BIT) !== 0) return { kind: 'drop', reason: PCP_DROP_REASON.response };
  if (packet[OFF.version] !== PCP_VERSION) return { kind: 'error', result: PCP_RESULT.UNSUPP_VERSION, parsed: false };
  if (length < PCP_SIZE.header) return { kind: 'drop', reason: PCP_DROP_REASON.headerTooShort };
  if (length > PCP_SIZE.maxMessage || length % 4 !== 0) return refusal(PCP_RESULT.MALFORMED_REQUEST, false);
  const opcode = packet[OFF.opcode];
  const bodyBytes = bodyLength(opcode);
  if (bodyBytes < 0) return refusal(PCP_RESULT.UNSUPP_OPCODE, true);
  if (length < PCP_SIZE.header + bodyBytes) return refusal(PCP_RESULT.MALFORMED_REQUEST, false);

  const options = decodeOptions(packet, opcode, PCP_SIZE.header + bodyBytes);
  if (typeof options === 'number') return refusal(options, true);
  const requestedLifetimeSeconds = readU32(packet, OFF.lifetime);
  // §13.2: PREFER_FAILURE needs something to insist on, and makes no sense on a delete.
  if (options.preferFailure && (requestedLifetimeSeconds === 0 || readU16(packet, OFF.body + BODY.externalPort) === 0)) {
    return refusal(PCP_RESULT.MALFORMED_OPTION, true);
  }
  // §13.3: a FILTER on a delete is malformed.
  if (options.filters.length > 0 && requestedLifetimeSeconds === 0) return refusal(PCP_RESULT.MALFORMED_OPTION, true);

  const base = {
    bytes: packet,
    requestedLifetimeSeconds,
    clientAddress: readPcpAddress(packet, OFF.clientAddress),
    ...options,
  };
  if (opcode === PCP_OPCODE.ANNOUNCE) return { kind: 'request', request: { opcode, ...base } };
  const fields = readMappingFields(packet);
  // §11.1, §12.1: protocol 0 means every protocol, so it cannot name one port.
  if (fields.protocol === 0 && fields.internalPort !== 0) return refusal(PCP_RESULT.MALFORMED_REQUEST, true);
  if (opcode === PCP_OPCODE.MAP) return { kind: 'request', request: { opcode, ...base, ...fields } };
  return decodePeer(packet, base, fields);
}

/** An error answer of the decoder: the result code, and whether the request parsed. */
function refusal(result: PcpResultCode, parsed: boolean): PcpDecodeResult {
  return { kind: 'error', result, parsed };
}

function readMappingFields(packet: Uint8Array): PcpMappingFields {
  const body = OFF.body;
  return {
    nonce: packet.subarray(body + BODY.nonce, body + BODY.nonce + PCP_SIZE.nonce),
    protocol: packet[body + BODY.protocol],
    internalPort: readU16(packet, body + BODY.internalPort),
    suggestedExternalPort: readU16(packet, body + BODY.externalPort),
    suggestedExternalAddress: isUnspecifiedAt(packet, body + BODY.externalAddress)
      ? undefined : readPcpAddress(packet, body + BODY.externalAddress),
  };
}

/**
 * §12.1: a PEER request names one flow, so its protocol, internal port, remote peer port
 * and remote peer address must all be given (0 or an unspecified address is malformed).
 */
function decodePeer(packet: Uint8Array, base: PcpRequestBase, fields: PcpMappingFields): PcpDecodeResult {
  const remoteOff = OFF.body + BODY.remotePeerAddress;
  const remotePeerPort = readU16(packet, OFF.body + BODY.remotePeerPort);
  if (fields.protocol === 0 || fields.internalPort === 0 || remotePeerPort === 0 || isUnspecifiedAt(packet, remoteOff)) {
    return refusal(PCP_RESULT.MALFORMED_REQUEST, true);
  }
  return {
    kind: 'request',
    request: { opcode: PCP_OPCODE.PEER, ...base, ...fields, remotePeerPort, remotePeerAddress: readPcpAddress(packet, remoteOff) },
  };
}

interface DecodedOptions {
  thirdParty: string | undefined;
  preferFailure: boolean;
  filters: readonly PcpFilter[];
  processedOptions: readonly number[];
}

/**
 * Walks the options from `start` to the end (§7.3): each is code, reserved, a 16-bit
 * data length, then the data padded to a multiple of 4. Returns the options or the
 * result code of the first problem: an option running past the datagram, a known option
 * of the wrong length or repeated where it may appear once → MALFORMED_OPTION; an
 * option we do not support for this opcode in the mandatory range (code < 128) →
 * UNSUPP_OPTION. Unsupported optional options (code ≥ 128) are skipped.
 */
function decodeOptions(packet: Uint8Array, opcode: number, start: number): DecodedOptions | PcpResultCode {
  const out: DecodedOptions = { thirdParty: undefined, preferFailure: false, filters: NO_FILTERS, processedOptions: [] };
  const known = OPTIONS_OF_OPCODE[opcode];
  const processed: number[] = [];
  for (let off = start; off < packet.length;) {
    if (packet.length - off < PCP_SIZE.optionHeader) return PCP_RESULT.MALFORMED_OPTION;
    const code = packet[off];
    const dataLength = readU16(packet, off + 2);
    const end = off + PCP_SIZE.optionHeader + ((dataLength + 3) & ~3);
    if (end > packet.length) return PCP_RESULT.MALFORMED_OPTION;
    if (known.includes(code)) {
      const problem = decodeKnownOption(packet, off, code, dataLength, out);
      if (problem !== PCP_RESULT.SUCCESS) return problem;
      processed.push(off, end);
    } else if (code < FIRST_OPTIONAL_CODE) {
      return PCP_RESULT.UNSUPP_OPTION;
    }
    off = end;
  }
  out.processedOptions = processed;
  return out;
}

/** Reads one understood option into `out`; SUCCESS or the result code of what is wrong. */
function decodeKnownOption(packet: Uint8Array, off: number, code: number, dataLength: number, out: DecodedOptions): PcpResultCode {
  if (dataLength !== OPTION_DATA_LENGTH[code]) return PCP_RESULT.MALFORMED_OPTION;
  const data = off + PCP_SIZE.optionHeader;
  if (code === PCP_OPTION.THIRD_PARTY) {
    // §13.1: at most once.
    if (out.thirdParty !== undefined) return PCP_RESULT.MALFORMED_OPTION;
    out.thirdParty = readPcpAddress(packet, data);
    return PCP_RESULT.SUCCESS;
  }
  if (code === PCP_OPTION.PREFER_FAILURE) {
    // §13.2: at most once.
    if (out.preferFailure) return PCP_RESULT.MALFORMED_OPTION;
    out.preferFailure = true;
    return PCP_RESULT.SUCCESS;
  }
  const filter = decodeFilter(packet, data);
  if (filter === undefined) return PCP_RESULT.MALFORMED_OPTION;
  out.filters = out.filters === NO_FILTERS ? [filter] : [...out.filters, filter];
  return PCP_RESULT.SUCCESS;
}

/**
 * FILTER data (§13.3): reserved, prefix length, remote peer port, remote peer address.
 * The prefix is 0 (remove all filters) or at most 128; for an IPv4 peer it counts the
 * 96 bits of ::ffff:0:0/96, so anything from 1 to 95 is malformed. undefined when bad.
 */
function decodeFilter(packet: Uint8Array, data: number): PcpFilter | undefined {
  const prefixLength = packet[data + 1];
  const addressOff = data + 4;
  if (prefixLength > 128) return undefined;
  if (prefixLength !== 0 && prefixLength < 96 && isIpv4MappedAt(packet, addressOff)) return undefined;
  return { prefixLength, remotePort: readU16(packet, data + 2), remoteAddress: readPcpAddress(packet, addressOff) };
}

// ---- encoding --------------------------------------------------------------------------

/** Response header fields the server fills (RFC 6887 §7.2). */
export interface PcpResponseHeader {
  readonly result: PcpResultCode;
  readonly lifetimeSeconds: number;
  readonly epochSeconds: number;
}

function writeResponseHeader(out: Uint8Array, h: PcpResponseHeader): void {
  out[OFF.opcode] |= R_BIT;
  out[2] = 0;
  out[OFF.resultCode] = h.result;
  writeU32(out, OFF.lifetime, h.lifetimeSeconds);
  writeU32(out, OFF.epochTime, h.epochSeconds);
}

/**
 * An error response (§8.2, §7.2): the request copied (at most 1100 octets, cut to a
 * multiple of 4) with the R bit, result, lifetime and epoch set; its last 96 header bits
 * are zero for a parsed request and keep the request's (the tail of its client address)
 * for one that could not be parsed. UNSUPP_VERSION answers with a 24-octet header in
 * our version, since we cannot know the layout of another version's request. Returns
 * a new buffer; `request` is only read.
 */
export function encodePcpError(request: Uint8Array, h: PcpResponseHeader, parsed: boolean): Uint8Array {
  const size = h.result === PCP_RESULT.UNSUPP_VERSION
    ? PCP_SIZE.header
    : Math.max(PCP_SIZE.header, Math.min(request.length, PCP_SIZE.maxMessage) & ~3);
  const out = new Uint8Array(size);
  out.set(request.subarray(0, size));
  if (h.result === PCP_RESULT.UNSUPP_VERSION) out[OFF.version] = PCP_VERSION;
  writeResponseHeader(out, h);
  if (parsed) out.fill(0, OFF.responseReserved, PCP_SIZE.header);
  return out;
}

/** Where the server put the mapping (MAP and PEER success responses). */
export interface PcpAssigned {
  readonly externalPort: number;
  readonly externalAddress: string;
}

/**
 * A success response to `request` (§7.2, §11.1, §12.1): the request's first 4 octets with
 * R set, result 0, lifetime, epoch, 96 zero bits; then the opcode data echoed with the
 * assigned external port and address written over the suggestion; then the options the
 * server processed, as sent. Also used for MAP/PEER errors that report an existing
 * mapping's values (`assigned`) rather than echo the suggestion. Returns a new buffer.
 */
export function encodePcpResponse(request: PcpRequest, h: PcpResponseHeader, assigned?: PcpAssigned): Uint8Array {
  const bodyBytes = bodyLength(request.opcode);
  const ranges = request.processedOptions;
  let optionBytes = 0;
  for (let i = 0; i < ranges.length; i += 2) optionBytes += ranges[i + 1] - ranges[i];
  const out = new Uint8Array(PCP_SIZE.header + bodyBytes + optionBytes);
  const src = request.bytes;
  out.set(src.subarray(0, 4));
  writeResponseHeader(out, h);
  out.set(src.subarray(OFF.body, OFF.body + bodyBytes), OFF.body);
  if (assigned && request.opcode !== PCP_OPCODE.ANNOUNCE) {
    writeU16(out, OFF.body + BODY.externalPort, assigned.externalPort);
    if (!writePcpAddress(out, OFF.body + BODY.externalAddress, assigned.externalAddress)) {
      out.fill(0, OFF.body + BODY.externalAddress, OFF.body + BODY.externalAddress + PCP_SIZE.address);
    }
  }
  let at = PCP_SIZE.header + bodyBytes;
  for (let i = 0; i < ranges.length; i += 2) {
    out.set(src.subarray(ranges[i], ranges[i + 1]), at);
    at += ranges[i + 1] - ranges[i];
  }
  return out;
}

/**
 * The unsolicited ANNOUNCE response (§14.1.3) a server multicasts after it lost its
 * state or its external address changed: 24 octets, result SUCCESS, lifetime 0, the new
 * epoch time.
 */
export function encodePcpAnnounce(epochSeconds: number): Uint8Array {
  const out = new Uint8Array(PCP_SIZE.header);
  out[OFF.version] = PCP_VERSION;
  out[OFF.opcode] = PCP_OPCODE.ANNOUNCE;
  writeResponseHeader(out, { result: PCP_RESULT.SUCCESS, lifetimeSeconds: 0, epochSeconds });
  return out;
}

/** A mapping as an unsolicited MAP or PEER response reports it (§14.2). */
export interface PcpMappingUpdate {
  readonly opcode: typeof PCP_OPCODE.MAP | typeof PCP_OPCODE.PEER;
  /** The nonce of the request that made the mapping, 12 octets. */
  readonly nonce: Uint8Array;
  readonly protocol: number;
  readonly internalPort: number;
  readonly externalPort: number;
  readonly externalAddress: string;
  readonly lifetimeSeconds: number;
  readonly epochSeconds: number;
  /** PEER only. */
  readonly remotePeerPort?: number;
  readonly remotePeerAddress?: string;
  /**
   * The internal address of a mapping made with THIRD_PARTY (§13.1): the update then
   * carries that option, as the reply to the renewal would, so the client can tell it
   * from a mapping of its own.
   */
  readonly thirdParty?: string;
}

/**
 * An unsolicited MAP or PEER success response (§14.2): how a server that kept its
 * mappings tells each client their new external address, laid out exactly as the reply
 * to a renewal would be (a THIRD_PARTY option last when the mapping has one). Returns a
 * new buffer; undefined when an address cannot be written or the nonce is not 12 octets.
 */
export function encodePcpMappingUpdate(u: PcpMappingUpdate): Uint8Array | undefined {
  if (u.nonce.length !== PCP_SIZE.nonce) return undefined;
  const bodyBytes = bodyLength(u.opcode);
  const optionBytes = u.thirdParty === undefined ? 0 : PCP_SIZE.optionHeader + PCP_SIZE.address;
  const out = new Uint8Array(PCP_SIZE.header + bodyBytes + optionBytes);
  out[OFF.version] = PCP_VERSION;
  out[OFF.opcode] = u.opcode;
  writeResponseHeader(out, { result: PCP_RESULT.SUCCESS, lifetimeSeconds: u.lifetimeSeconds, epochSeconds: u.epochSeconds });
  const body = OFF.body;
  out.set(u.nonce, body + BODY.nonce);
  out[body + BODY.protocol] = u.protocol;
  writeU16(out, body + BODY.internalPort, u.internalPort);
  writeU16(out, body + BODY.externalPort, u.externalPort);
  if (!writePcpAddress(out, body + BODY.externalAddress, u.externalAddress)) return undefined;
  if (u.opcode === PCP_OPCODE.PEER) {
    writeU16(out, body + BODY.remotePeerPort, u.remotePeerPort ?? 0);
    if (!writePcpAddress(out, body + BODY.remotePeerAddress, u.remotePeerAddress ?? '')) return undefined;
  }
  if (u.thirdParty !== undefined) {
    const option = PCP_SIZE.header + bodyBytes;
    out[option] = PCP_OPTION.THIRD_PARTY;
    writeU16(out, option + 2, PCP_SIZE.address);
    if (!writePcpAddress(out, option + PCP_SIZE.optionHeader, u.thirdParty)) return undefined;
  }
  return out;
}
