/**
 * IPv4 and MAC addresses: text forms, and big-endian reads and writes shared by the
 * views. IPv4 addresses are unsigned 32-bit numbers (`>>> 0`), MACs 6-byte arrays.
 * The parsers return null on bad text; nothing here throws or allocates per packet
 * (only the text parsers and `parseMac` allocate, off the hot path).
 */

/** The netmask of a prefix length 0–32, as an unsigned 32-bit number (24 → 0xffffff00). */
export function prefixMask(prefixLength: number): number {
  return prefixLength <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefixLength, 32))) >>> 0;
}

export function ipv4ToString(addr: number): string {
  const a = addr >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/**
 * Parses a strict dotted quad ("192.0.2.1"); null when malformed, out of range, or with
 * a leading zero ("010.0.0.1" is octal to inet_aton, so it is refused, not guessed).
 */
export function parseIpv4(s: string): number | null {
  if (typeof s !== 'string') return null;
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = Number(m[i]);
    if (part > 255) return null;
    n = n * 256 + part;
  }
  return n;
}

/** "02:00:5e:00:00:01"; reads the first 6 bytes (missing ones print as 00). */
export function macToString(mac: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (mac[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

/** Parses six colon-separated hex pairs (either case); null otherwise. */
export function parseMac(s: string): Uint8Array | null {
  if (typeof s !== 'string') return null;
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  return m ? Uint8Array.from(m.slice(1), (h) => parseInt(h, 16)) : null;
}

/** Big-endian u16 at `o`. The caller has checked that `o + 2 <= b.length`. */
export function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** Big-endian u32 at `o`, unsigned. The caller has checked that `o + 4 <= b.length`. */
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** True for 224.0.0.0/4. */
export function isMulticast(addr: number): boolean {
  return addr >>> 28 === 0xe;
}
