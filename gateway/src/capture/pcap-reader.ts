/**
 * Reads a classic pcap file (the format `PcapWriter`, tcpdump and tshark write): either
 * byte order, microsecond or nanosecond stamps, Ethernet link type. The whole file is
 * held in one buffer and described by parallel typed arrays, so reading allocates per
 * file, never per frame, and a replay can walk the frames without making objects.
 *
 * A bad header or a record that cannot be a record (captured length over the snap
 * length, or over 256 KiB) is a `PcapFormatError` naming the byte offset. A file cut
 * short in its last record (a capture that was killed) gives the whole records before
 * it and says so in `truncatedBytes`, as tshark does.
 *
 * Why not the `pcap-parser` package: its last release (0.2.1) is years old and
 * unmaintained; it uses the deprecated `new Buffer`, does not know nanosecond pcap,
 * passes a torn last record silently, and makes two objects and two events per packet.
 */
import { readFile } from 'node:fs/promises';

export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
/** Largest record accepted whatever the header's snap length says (our writer's is 256 KiB). */
const MAX_RECORD = 262_144;

export class PcapFormatError extends Error {
  constructor(readonly source: string, readonly offset: number, problem: string) {
    super(`${source}: ${problem} at byte ${offset}`);
    this.name = 'PcapFormatError';
  }
}

/** The frames of one capture: frame i is `buffer[offsets[i], offsets[i] + lengths[i])`. */
export interface PcapFrames {
  readonly buffer: Uint8Array;
  readonly count: number;
  readonly offsets: Int32Array;
  /** Captured bytes of each frame. */
  readonly lengths: Int32Array;
  /** Bytes the frame had on the wire (more than `lengths[i]` when the snap length cut it). */
  readonly wireLengths: Int32Array;
  /** Stamps in ms since the epoch, to the file's resolution (µs or ns). */
  readonly timesMs: Float64Array;
  readonly snapLength: number;
  readonly nanosecond: boolean;
  /** Bytes of a torn last record that were left out (0 for a whole file). */
  readonly truncatedBytes: number;
}

interface Header {
  readonly little: boolean;
  readonly nanosecond: boolean;
  readonly snapLength: number;
}

function parseHeader(view: DataView, source: string): Header {
  if (view.byteLength < GLOBAL_HEADER) throw new PcapFormatError(source, view.byteLength, 'file shorter than the 24-byte pcap header');
  const magicLe = view.getUint32(0, true);
  const magicBe = view.getUint32(0, false);
  let little: boolean;
  let nanosecond: boolean;
  if (magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d) [little, nanosecond] = [true, magicLe === 0xa1b23c4d];
  else if (magicBe === 0xa1b2c3d4 || magicBe === 0xa1b23c4d) [little, nanosecond] = [false, magicBe === 0xa1b23c4d];
  else if (magicLe === 0x0a0d0d0a) throw new PcapFormatError(source, 0, 'pcapng is not read here (convert it: editcap -F pcap)');
  else throw new PcapFormatError(source, 0, `not a pcap file (magic 0x${magicBe.toString(16).padStart(8, '0')})`);
  const major = view.getUint16(4, little);
  if (major !== 2) throw new PcapFormatError(source, 4, `unsupported pcap version ${major}.${view.getUint16(6, little)}`);
  const linkType = view.getUint32(20, little) & 0x0fffffff;
  if (linkType !== LINKTYPE_ETHERNET) throw new PcapFormatError(source, 20, `link type ${linkType} is not Ethernet (1)`);
  return { little, nanosecond, snapLength: view.getUint32(16, little) };
}

/**
 * Walks the records; `each` is called with each whole record's header offset and
 * captured length. Returns the offset where whole records end.
 */
function walkRecords(view: DataView, h: Header, source: string, each: (at: number, caplen: number) => void): number {
  const limit = Math.min(MAX_RECORD, h.snapLength > 0 ? Math.max(h.snapLength, 65_535) : MAX_RECORD);
  let at = GLOBAL_HEADER;
  while (at + RECORD_HEADER <= view.byteLength) {
    const caplen = view.getUint32(at + 8, h.little);
    const wirelen = view.getUint32(at + 12, h.little);
    if (caplen > limit) throw new PcapFormatError(source, at + 8, `captured length ${caplen} over the limit ${limit}`);
    if (wirelen < caplen) throw new PcapFormatError(source, at + 12, `wire length ${wirelen} shorter than captured length ${caplen}`);
    if (at + RECORD_HEADER + caplen > view.byteLength) break;
    each(at, caplen);
    at += RECORD_HEADER + caplen;
  }
  return at;
}

/** Parses a whole pcap file held in `bytes` (the frames point into it). */
export function parsePcap(bytes: Uint8Array, source = 'pcap'): PcapFrames {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = parseHeader(view, source);
  let count = 0;
  walkRecords(view, h, source, () => { count++; });
  const offsets = new Int32Array(count);
  const lengths = new Int32Array(count);
  const wireLengths = new Int32Array(count);
  const timesMs = new Float64Array(count);
  const fraction = h.nanosecond ? 1e-6 : 1e-3;
  let i = 0;
  const end = walkRecords(view, h, source, (at, caplen) => {
    offsets[i] = at + RECORD_HEADER;
    lengths[i] = caplen;
    wireLengths[i] = view.getUint32(at + 12, h.little);
    timesMs[i] = view.getUint32(at, h.little) * 1000 + view.getUint32(at + 4, h.little) * fraction;
    i++;
  });
  return {
    buffer: bytes, count, offsets, lengths, wireLengths, timesMs,
    snapLength: h.snapLength, nanosecond: h.nanosecond, truncatedBytes: bytes.byteLength - end,
  };
}

/** Reads and parses the pcap file at `path`. */
export async function readPcapFile(path: string): Promise<PcapFrames> {
  const bytes = await readFile(path);
  return parsePcap(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
