/**
 * The on-disk record format of the state directory.
 *
 * A record file is a sequence of lines, each `CCCCCCCC JSON\n`: eight lowercase hex
 * digits of the CRC-32 (IEEE 802.3) of the JSON's UTF-8 bytes, one space, the JSON
 * text (JSON.stringify escapes every newline, so a record is always one line). The
 * first line of a file is a header naming the format and its version.
 *
 * The durable writes themselves (atomic replace, directories) are in durable-file.ts.
 *
 * This module knows nothing of mappings (store.ts gives records their meaning) and
 * never decides what to do with a bad line: it reports, the caller decides.
 */

/** Longest record line accepted, newline included. Writers refuse longer records. */
export const RECORD_MAX_BYTES = 65_536;

const CRC_TABLE = buildCrcTable();

function buildCrcTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 of bytes[start, end) — IEEE 802.3 / zlib polynomial, reflected, init and xorout 0xffffffff. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes one record line (checksum, space, JSON, newline). The caller owns the returned bytes. */
export function encodeRecordLine(value: unknown): Uint8Array {
  const json = encoder.encode(JSON.stringify(value));
  const line = new Uint8Array(json.length + 10);
  line.set(encoder.encode(crc32(json).toString(16).padStart(8, '0')), 0);
  line[8] = 0x20;
  line.set(json, 9);
  line[line.length - 1] = 0x0a;
  return line;
}

export type DecodedRecord = { ok: true; value: unknown } | { ok: false; reason: string };

const HEX = /^[0-9a-f]{8}$/;

/** Decodes bytes[start, end) — one line without its newline. Never throws. */
export function decodeRecordLine(bytes: Uint8Array, start: number, end: number): DecodedRecord {
  if (end - start + 1 > RECORD_MAX_BYTES) return { ok: false, reason: 'record too long' };
  if (end - start < 11 || bytes[start + 8] !== 0x20) return { ok: false, reason: 'not a record line' };
  let hex: string;
  let text: string;
  try {
    hex = decoder.decode(bytes.subarray(start, start + 8));
    text = decoder.decode(bytes.subarray(start + 9, end));
  } catch {
    return { ok: false, reason: 'invalid UTF-8' };
  }
  if (!HEX.test(hex)) return { ok: false, reason: 'bad checksum field' };
  if (parseInt(hex, 16) !== crc32(bytes, start + 9, end)) return { ok: false, reason: 'checksum mismatch' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'unparseable JSON' };
  }
}

/** One line of a record file: bytes[start, end), `terminated` when a newline follows it. */
export interface LineSpan {
  readonly start: number;
  readonly end: number;
  readonly terminated: boolean;
  /** 1-based line number. */
  readonly number: number;
}

/** Splits a file's bytes into lines; a final segment without newline is returned unterminated. Empty tail omitted. */
export function splitLines(bytes: Uint8Array): LineSpan[] {
  const lines: LineSpan[] = [];
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(0x0a, start);
    if (nl < 0) {
      lines.push({ start, end: bytes.length, terminated: false, number: lines.length + 1 });
      break;
    }
    lines.push({ start, end: nl, terminated: true, number: lines.length + 1 });
    start = nl + 1;
  }
  return lines;
}
