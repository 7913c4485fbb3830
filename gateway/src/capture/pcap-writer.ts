/**
 * Writes frames to a classic pcap file (LINKTYPE_ETHERNET, microsecond stamps) that
 * Wireshark and tshark read. Frames are copied into a chunk buffer and flushed with
 * one synchronous write per batch (or when the chunk fills), so capture costs a copy
 * and no allocation per frame. A write error stops the capture and is reported once;
 * it never stops forwarding.
 *
 * A frame whose L4 checksum is offloaded (`FrameFlag.csumPartial`: the field holds only
 * the pseudo-header sum) is recorded with that checksum completed, as the device that
 * puts it on a wire would complete it, so a capture shows what the peer receives. The
 * completion is made in the copy in the chunk; the caller's frame (which is forwarded
 * with its partial checksum) is never written to. GSO super-frames are recorded whole,
 * as `tcpdump` on an interface with TSO shows them.
 */
import { openSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { FrameFlag, partialChecksumValue } from '../link/index.js';

const LINKTYPE_ETHERNET = 1;
const CHUNK_BYTES = 1 << 20;

export class PcapWriter {
  private fd: number;
  private readonly chunk = new Uint8Array(CHUNK_BYTES);
  private readonly view = new DataView(this.chunk.buffer);
  private used = 0;
  private failed = false;
  frames = 0;

  constructor(readonly path: string, private readonly snapLength = 65535, private readonly onError: (e: Error) => void = () => {}) {
    this.fd = openSync(path, 'w', 0o640);
    const h = new DataView(new ArrayBuffer(24));
    h.setUint32(0, 0xa1b2c3d4, true);
    h.setUint16(4, 2, true);
    h.setUint16(6, 4, true);
    h.setInt32(8, 0, true);
    h.setUint32(12, 0, true);
    h.setUint32(16, snapLength, true);
    h.setUint32(20, LINKTYPE_ETHERNET, true);
    writeSync(this.fd, new Uint8Array(h.buffer));
  }

  /**
   * Records the frame `frame[offset, offset + length)` seen at `nowMs` (ms since the epoch).
   * `flags`, `csumStart` and `csumOffset` are the frame's offload metadata as in a
   * FrameBatch (csumStart from the start of the frame, csumOffset from csumStart): with
   * `FrameFlag.csumPartial` the recorded copy gets the completed checksum. The bytes are
   * copied and the caller's buffer is only read.
   */
  write(frame: Uint8Array, offset: number, length: number, nowMs: number, flags = 0, csumStart = 0, csumOffset = 0): void {
    if (this.failed) return;
    const caplen = Math.min(length, this.snapLength, CHUNK_BYTES - 16);
    if (this.used + 16 + caplen > CHUNK_BYTES) this.flush();
    // To the nearest µs, in whole µs first: a stamp read from a pcap (sec * 1000 + usec / 1000)
    // is written back as the same sec and usec.
    const us = Math.round(nowMs * 1000);
    const sec = Math.floor(us / 1e6);
    const usec = us - sec * 1e6;
    this.view.setUint32(this.used, sec, true);
    this.view.setUint32(this.used + 4, usec, true);
    this.view.setUint32(this.used + 8, caplen, true);
    this.view.setUint32(this.used + 12, length, true);
    this.chunk.set(frame.subarray(offset, offset + caplen), this.used + 16);
    if ((flags & FrameFlag.csumPartial) !== 0) this.completeChecksum(frame, offset, length, caplen, csumStart, csumOffset);
    this.used += 16 + caplen;
    this.frames++;
  }

  /**
   * Completes the partial checksum of the frame just copied (at `used + 16`). The sum runs
   * over the caller's frame, all `length` bytes of it, so a frame cut short by the snap
   * length still gets its right checksum. A range that does not fit leaves the copy as it is.
   */
  private completeChecksum(frame: Uint8Array, offset: number, length: number, caplen: number, csumStart: number, csumOffset: number): void {
    const csum = partialChecksumValue(frame, offset, length, csumStart, csumOffset);
    if (csum < 0) return;
    const field = csumStart + csumOffset;
    const at = this.used + 16 + field;
    if (field < caplen) this.chunk[at] = csum >> 8;
    if (field + 1 < caplen) this.chunk[at + 1] = csum & 0xff;
  }

  /** Writes out what is buffered; call after each batch. */
  flush(): void {
    if (this.used === 0 || this.failed) return;
    try {
      let done = 0;
      while (done < this.used) done += writeSync(this.fd, this.chunk, done, this.used - done);
    } catch (e) {
      this.failed = true;
      this.onError(e as Error);
    }
    this.used = 0;
  }

  /**
   * Writes out what is buffered and closes the file. `sync` (the default) makes it durable
   * first, as a capture of live traffic cannot be taken again; a replay's output can be
   * made again from its inputs and skips the fsync (a tenth of a 100,000-frame replay).
   */
  close({ sync = true }: { readonly sync?: boolean } = {}): void {
    this.flush();
    if (sync) {
      try {
        fsyncSync(this.fd);
      } catch {
        // A capture on a filesystem without fsync is still a capture.
      }
    }
    closeSync(this.fd);
    this.fd = -1;
  }
}
