/**
 * A NAT-PMP client codec (RFC 6886 §3), written from the RFC's figures: requests for the
 * external address (opcode 0) and mappings (1 UDP, 2 TCP), and the responses' decoding.
 * Decoding never throws: what is not a response is a reason.
 */

export const NATPMP_RESULT_TEXT = ['Success', 'Unsupported Version', 'Not Authorized/Refused', 'Network Failure', 'Out of resources', 'Unsupported opcode'];

export interface NatPmpResponse {
  readonly version: number;
  /** The request's opcode (the response's minus 128). */
  readonly opcode: number;
  readonly result: number;
  readonly epoch: number;
  /** Opcode 0. */
  readonly externalAddress?: string;
  /** Opcodes 1 and 2. */
  readonly internalPort?: number;
  readonly externalPort?: number;
  readonly lifetime?: number;
  readonly length: number;
}

/** Opcode 0: two octets. */
export function natPmpAddressRequest(version = 0): Buffer {
  return Buffer.from([version, 0]);
}

/** Opcodes 1 (UDP) and 2 (TCP): twelve octets. */
export function natPmpMapRequest(opcode: number, internalPort: number, externalPort: number, lifetime: number, version = 0): Buffer {
  const b = Buffer.alloc(12);
  b[0] = version;
  b[1] = opcode;
  b.writeUInt16BE(internalPort, 4);
  b.writeUInt16BE(externalPort, 6);
  b.writeUInt32BE(lifetime, 8);
  return b;
}

/** Decodes a response, or says why it is none. */
export function decodeNatPmpResponse(b: Buffer): NatPmpResponse | string {
  if (b.length < 8) return `${b.length}-octet response`;
  if (b[1]! < 128) return `opcode ${b[1]} without the response bit`;
  const base = { version: b[0]!, opcode: b[1]! - 128, result: b.readUInt16BE(2), epoch: b.readUInt32BE(4), length: b.length };
  if (base.result !== 0) return base;
  if (base.opcode === 0) {
    if (b.length < 12) return `${b.length}-octet external address response`;
    return { ...base, externalAddress: `${b[8]}.${b[9]}.${b[10]}.${b[11]}` };
  }
  if (base.opcode === 1 || base.opcode === 2) {
    if (b.length < 16) return `${b.length}-octet mapping response`;
    return { ...base, internalPort: b.readUInt16BE(8), externalPort: b.readUInt16BE(10), lifetime: b.readUInt32BE(12) };
  }
  return base;
}
