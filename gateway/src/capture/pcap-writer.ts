/**
 * Writes frames to a classic pcap file (LINKTYPE_ETHERNET, microsecond stamps) that
 * Wireshark and tshark read. Frames are copied into a chunk buffer and flushed with
 * one synchronous write per batch (or when the chunk fills), so capture costs a copy
 * and no allocation per frame. A write error stops the capture and is reported once;
 * it never stops forwarding.
 */
import { openSync, writeSync, closeSync, fsyncSync } from 'node:fs';

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

  /** Records one frame seen at `nowMs` (wall clock). The bytes are copied; the caller keeps its buffer. */
  write(frame: Uint8Array, offset: number, length: number, nowMs: number): void {
    if (this.failed) return;
    const caplen = Math.min(length, this.snapLength);
    if (this.used + 16 + caplen > CHUNK_BYTES) this.flush();
    const sec = Math.floor(nowMs / 1000);
    const usec = Math.floor((nowMs - sec * 1000) * 1000);
    this.view.setUint32(this.used, sec, true);
    this.view.setUint32(this.used + 4, usec, true);
    this.view.setUint32(this.used + 8, caplen, true);
    this.view.setUint32(this.used + 12, length, true);
    this.chunk.set(frame.subarray(offset, offset + caplen), this.used + 16);
    this.used += 16 + caplen;
    this.frames++;
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

  close(): void {
    this.flush();
    try {
      fsyncSync(this.fd);
    } catch {
      // A capture on a filesystem without fsync is still a capture.
    }
    closeSync(this.fd);
    this.fd = -1;
  }
}
