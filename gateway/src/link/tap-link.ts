/**
 * A TAP device as a Link, through our N-API addon (gateway/native/tap.c): the fd is
 * non-blocking and watched by uv_poll; each wakeup drains up to BATCH_SLOTS frames into
 * a preallocated buffer and makes one JavaScript call. Creating the link can move the
 * kernel side into a network namespace and set it up there.
 */
import { createRequire } from 'node:module';
import { BATCH_SLOTS, SLOT_SIZE, newCounters, type Link, type RxBatch } from './link.js';
import { ip } from '../lab/sh.js';

interface TapAddon {
  openTap(name: string, opts: { vnetHdr: boolean; multiQueue?: boolean; offloads?: boolean }): { fd: number; name: string; mtu: number };
  startReader(fd: number, buf: Uint8Array, lengths: Int32Array, cb: (count: number, errorCode?: string) => void): number;
  stopReader(id: number): void;
  writeBatch(fd: number, buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number, vnetHdrs: Uint8Array | null): number;
  closeTap(fd: number): void;
}

let addon: TapAddon | null = null;

/** Loads the addon built by `npm ci` (node-gyp); throws a clear error when it is missing. */
export function loadTapAddon(): TapAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    addon = require('../../build/Release/openigd_tap.node') as TapAddon;
  } catch (cause) {
    throw new Error('the TAP addon is not built: run `npm ci` (or `npm run install -w @openigd/gateway`)', { cause });
  }
  return addon;
}

export interface TapOptions {
  /** Move the kernel side into this existing namespace. */
  readonly netns?: string;
  /** MAC of the kernel side. */
  readonly kernelMac?: string;
  readonly mtu?: number;
  /** Addresses (a.b.c.d/n) for the kernel side, in its namespace. */
  readonly kernelAddresses?: readonly string[];
}

export class TapLink implements Link {
  readonly counters = newCounters();
  private readonly rxBuf = new Uint8Array(BATCH_SLOTS * SLOT_SIZE);
  private readonly rxLengths = new Int32Array(BATCH_SLOTS);
  private reader: number | null = null;
  private fd: number;

  private constructor(readonly name: string, fd: number, readonly netns: string | undefined) {
    this.fd = fd;
  }

  /** Creates (or attaches) the TAP, then places and configures its kernel side. */
  static async open(name: string, opts: TapOptions = {}): Promise<TapLink> {
    const a = loadTapAddon();
    const fd = a.openTap(name, { vnetHdr: false }).fd;
    const link = new TapLink(name, fd, opts.netns);
    try {
      if (opts.netns) await ip(undefined, 'link', 'set', 'dev', name, 'netns', opts.netns);
      const ns = opts.netns;
      if (opts.kernelMac) await ip(ns, 'link', 'set', 'dev', name, 'address', opts.kernelMac);
      if (opts.mtu) await ip(ns, 'link', 'set', 'dev', name, 'mtu', String(opts.mtu));
      for (const addr of opts.kernelAddresses ?? []) await ip(ns, 'addr', 'add', addr, 'dev', name);
      await ip(ns, 'link', 'set', 'dev', name, 'up');
    } catch (e) {
      await link.close();
      throw e;
    }
    return link;
  }

  start(onBatch: (rx: RxBatch) => void): void {
    const a = loadTapAddon();
    const batch = { buf: this.rxBuf, slotSize: SLOT_SIZE, lengths: this.rxLengths, count: 0 };
    this.reader = a.startReader(this.fd, this.rxBuf, this.rxLengths, (count) => {
      batch.count = count;
      const c = this.counters;
      c.rxFrames += count;
      for (let i = 0; i < count; i++) c.rxBytes += this.rxLengths[i]!;
      onBatch(batch);
    });
  }

  writeBatch(buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    if (this.fd < 0 || count === 0) return 0;
    const n = loadTapAddon().writeBatch(this.fd, buf, offsets, lengths, count, null);
    const c = this.counters;
    c.txFrames += n;
    c.txDrops += count - n;
    for (let i = 0; i < n; i++) c.txBytes += lengths[i]!;
    return n;
  }

  /** Stops reading and closes the fd; a non-persistent TAP then disappears. */
  async close(): Promise<void> {
    const a = loadTapAddon();
    if (this.reader !== null) a.stopReader(this.reader);
    this.reader = null;
    if (this.fd >= 0) a.closeTap(this.fd);
    this.fd = -1;
  }
}
