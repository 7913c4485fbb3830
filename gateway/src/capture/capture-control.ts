/**
 * Captures on and off at run time: `start()` opens a pcap file per port (LAN, WAN) in the
 * capture directory, named by the time it began, and hands them to the Forwarder (the
 * router's I/O) as its frame taps; `stop()` takes them back and closes them. The
 * `capture` config starts one at boot; `POST /capture` starts and stops them.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PcapWriter } from './pcap-writer.js';
import type { FrameTap } from '../router/forwarder.js';
import type { CaptureStatus } from '../stats.js';

/** Captured frames are kept whole: GSO super-frames (offload on) reach 64 KiB plus headers. */
const CAPTURE_SNAP_BYTES = 262_144;

/** Where the taps go: the Forwarder's `setTaps`. */
export type TapSink = (taps: [FrameTap | null, FrameTap | null, FrameTap | null]) => void;

/** Why a capture could not start: its directory could not be made, or a file not opened. */
export class CaptureStartError extends Error {
  constructor(readonly step: 'create' | 'write', readonly path: string, options: { cause: unknown }) {
    super(`cannot ${step} ${path} (${(options.cause as NodeJS.ErrnoException).code ?? String(options.cause)})`, options);
  }
}

export class CaptureControl {
  private writers: { readonly port: 'lan' | 'wan'; readonly writer: PcapWriter }[] = [];

  /** `now`: the gateway's clock (ms since the epoch), for the files' names. */
  constructor(readonly dir: string, private readonly sink: TapSink, private readonly onError: (port: string, e: Error) => void,
    private readonly now: () => number = Date.now) {}

  get running(): boolean {
    return this.writers.length > 0;
  }

  status(): CaptureStatus {
    return { running: this.running, dir: this.dir, files: this.writers.map((w) => ({ port: w.port, path: w.writer.path, frames: w.writer.frames })) };
  }

  /** Starts a capture unless one runs; rejects with a CaptureStartError when the directory or a file cannot be made. */
  async start(): Promise<CaptureStatus> {
    if (this.running) return this.status();
    await mkdir(this.dir, { recursive: true }).catch((cause: unknown) => { throw new CaptureStartError('create', this.dir, { cause }); });
    if (this.running) return this.status();
    const stamp = new Date(this.now()).toISOString().replace(/[:.]/g, '-');
    const open = (port: 'lan' | 'wan') => {
      const path = join(this.dir, `${port}-${stamp}.pcap`);
      try {
        return { port, writer: new PcapWriter(path, CAPTURE_SNAP_BYTES, (e) => this.onError(port, e)) };
      } catch (cause) {
        throw new CaptureStartError('write', path, { cause });
      }
    };
    const lan = open('lan');
    let wan;
    try {
      wan = open('wan');
    } catch (e) {
      lan.writer.close();
      throw e;
    }
    this.writers = [lan, wan];
    this.sink([lan.writer, wan.writer, null]);
    return this.status();
  }

  /** Stops the capture, if one runs: the files are flushed and closed. */
  stop(): CaptureStatus {
    const writers = this.writers;
    this.sink([null, null, null]);
    this.writers = [];
    for (const w of writers) w.writer.close();
    return { ...this.status(), files: writers.map((w) => ({ port: w.port, path: w.writer.path, frames: w.writer.frames })) };
  }
}
