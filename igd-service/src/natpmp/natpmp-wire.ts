/**
 * NAT-PMP messages (RFC 6886 §3), big-endian, as a pure codec: a request is decoded from the
 * bytes of one UDP payload into a small value; a response is encoded into a caller's buffer.
 *
 *   request  0 version · 1 opcode                                           op 0:  2 bytes
 *            0 version · 1 opcode · 2–3 reserved · 4–5 internal port ·
 *            6–7 suggested external port · 8–11 requested lifetime          op 1/2: 12 bytes
 *   response 0 version 0 · 1 128+op · 2–3 result · 4–7 seconds since start of epoch, then
 *            op 0:   8–11 external IPv4 address                                     (12 bytes)
 *            op 1/2: 8–9 internal port · 10–11 mapped external port · 12–15 lifetime (16 bytes)
 *
 * Decoding follows §3.5's order: a version other than 0 gets "Unsupported Version" (version 2
 * is PCP, RFC 6887, and is told apart so a PCP engine can take it); an opcode of 128 or more
 * is a response and is dropped; another unknown opcode is echoed with result 5. A packet too
 * short, or of the wrong length for its opcode, is dropped with its reason.
 * Must not: throw on any input, keep state, or allocate beyond the decoded value.
 */

export const NATPMP_VERSION = 0;
/** The first byte of a PCP message (RFC 6887 §7). */
export const PCP_VERSION = 2;
export const NATPMP_SERVER_PORT = 5351;
export const NATPMP_CLIENT_PORT = 5350;
/** Where address announcements go (§3.2.1). */
export const NATPMP_ANNOUNCE_ADDRESS = '224.0.0.1';

export const NATPMP_OPCODE = { externalAddress: 0, mapUdp: 1, mapTcp: 2 } as const;
/** A response's opcode is the request's plus this. */
export const NATPMP_RESPONSE_BIT = 128;

/** §3.5 result codes. */
export const NATPMP_RESULT = {
  success: 0,
  unsupportedVersion: 1,
  notAuthorized: 2,
  networkFailure: 3,
  outOfResources: 4,
  unsupportedOpcode: 5,
} as const;
export type NatPmpResult = (typeof NATPMP_RESULT)[keyof typeof NATPMP_RESULT];

export const NATPMP_LENGTH = {
  externalAddressRequest: 2,
  mapRequest: 12,
  unsupportedVersionResponse: 8,
  externalAddressResponse: 12,
  mapResponse: 16,
} as const;

/** The longest datagram decoded at all (PCP's maximum, RFC 6887 §7); longer ones are dropped. */
export const NATPMP_MAX_DATAGRAM = 1100;

/** Why a datagram got no answer. */
export type NatPmpDropReason = 'short' | 'oversized' | 'wrong-length' | 'response';

export type NatPmpRequest =
  | { readonly kind: 'external-address' }
  | {
    readonly kind: 'map';
    readonly opcode: 1 | 2;
    readonly internalPort: number;
    readonly suggestedExternalPort: number;
    readonly lifetimeSeconds: number;
  }
  /** A version this server does not speak (not 0, not 2): answer Unsupported Version. */
  | { readonly kind: 'unsupported-version'; readonly version: number }
  /** Version 2: a PCP request, for the PCP engine. */
  | { readonly kind: 'pcp' }
  /** Version 0, opcode < 128 but not 0–2: echo it with result 5. */
  | { readonly kind: 'unsupported-opcode'; readonly opcode: number }
  | { readonly kind: 'drop'; readonly reason: NatPmpDropReason };

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

const DROP_SHORT: NatPmpRequest = { kind: 'drop', reason: 'short' };
const DROP_OVERSIZED: NatPmpRequest = { kind: 'drop', reason: 'oversized' };
const DROP_WRONG_LENGTH: NatPmpRequest = { kind: 'drop', reason: 'wrong-length' };
const DROP_RESPONSE: NatPmpRequest = { kind: 'drop', reason: 'response' };
const EXTERNAL_ADDRESS: NatPmpRequest = { kind: 'external-address' };
const PCP: NatPmpRequest = { kind: 'pcp' };

/** Decodes one datagram received on port 5351. Never throws. */
export function decodeNatPmpRequest(b: Uint8Array): NatPmpRequest {
  if (b.length < 2) return DROP_SHORT;
  if (b.length > NATPMP_MAX_DATAGRAM) return DROP_OVERSIZED;
  const version = b[0]!;
  if (version === PCP_VERSION) return PCP;
  if (version !== NATPMP_VERSION) return { kind: 'unsupported-version', version };
  const opcode = b[1]!;
  if (opcode >= NATPMP_RESPONSE_BIT) return DROP_RESPONSE;
  if (opcode === NATPMP_OPCODE.externalAddress) {
    return b.length === NATPMP_LENGTH.externalAddressRequest ? EXTERNAL_ADDRESS : DROP_WRONG_LENGTH;
  }
  if (opcode === NATPMP_OPCODE.mapUdp || opcode === NATPMP_OPCODE.mapTcp) {
    if (b.length !== NATPMP_LENGTH.mapRequest) return b.length < NATPMP_LENGTH.mapRequest ? DROP_SHORT : DROP_WRONG_LENGTH;
    // Bytes 2–3 are reserved: ignored on reception (§3.3).
    return { kind: 'map', opcode, internalPort: u16(b, 4), suggestedExternalPort: u16(b, 6), lifetimeSeconds: u32(b, 8) };
  }
  return { kind: 'unsupported-opcode', opcode };
}

/** Writes the 4-byte head of every response: version 0, 128+op, result, then the epoch at 4–7. */
function writeHead(out: Uint8Array, opcode: number, result: number, epochSeconds: number): void {
  out[0] = NATPMP_VERSION;
  out[1] = (opcode | NATPMP_RESPONSE_BIT) & 0xff;
  put16(out, 2, result);
  put32(out, 4, epochSeconds);
}

/**
 * §3.5 "Unsupported Version" (8 bytes) into `out`; returns its length. The opcode is 128, as
 * Errata ID 3618 (verified) corrects the figure's 0: it is a response.
 */
export function encodeUnsupportedVersion(out: Uint8Array, epochSeconds: number): number {
  writeHead(out, 0, NATPMP_RESULT.unsupportedVersion, epochSeconds);
  return NATPMP_LENGTH.unsupportedVersionResponse;
}

/** §3.2 external address response (12 bytes); `address` is a u32, 0 on error. Returns its length. */
export function encodeExternalAddressResponse(out: Uint8Array, result: NatPmpResult, epochSeconds: number, address: number): number {
  writeHead(out, NATPMP_OPCODE.externalAddress, result, epochSeconds);
  put32(out, 8, result === NATPMP_RESULT.success ? address : 0);
  return NATPMP_LENGTH.externalAddressResponse;
}

/** §3.3 / §3.4 mapping response (16 bytes). Returns its length. */
export function encodeMapResponse(out: Uint8Array, opcode: 1 | 2, result: NatPmpResult, epochSeconds: number,
  internalPort: number, externalPort: number, lifetimeSeconds: number): number {
  writeHead(out, opcode, result, epochSeconds);
  put16(out, 8, internalPort);
  put16(out, 10, externalPort);
  put32(out, 12, lifetimeSeconds);
  return NATPMP_LENGTH.mapResponse;
}

/**
 * §3.5: "the entire request MUST be returned to the sender, with the top bit of the opcode
 * set ... and the result code set to 5". A request shorter than the result field is padded
 * with zeros to 4 bytes. `out` must hold max(request, 4) bytes. Returns the length.
 */
export function encodeUnsupportedOpcode(out: Uint8Array, request: Uint8Array): number {
  const length = Math.max(request.length, 4);
  out.fill(0, 0, length);
  out.set(request, 0);
  out[1] = request[1]! | NATPMP_RESPONSE_BIT;
  put16(out, 2, NATPMP_RESULT.unsupportedOpcode);
  return length;
}
