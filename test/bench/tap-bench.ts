/**
 * Micro-benchmark of the TAP addon (issue 3, the TAP link). In one run, on one TAP whose
 * kernel side is in a namespace of its own (`oi-lt…`):
 *
 *   rx addon     106-byte frames (UDP, 64-byte payload) flooded by the namespace's kernel,
 *                read through the addon: non-blocking fd, uv_poll, up to 64 per wakeup;
 *   rx fs.read   the same flood read with Node's `fs.read` on a blocking fd of a fresh TAP
 *                (libuv thread pool, one frame per call);
 *   tx addon     106-byte frames written with `writeBatch`, 64 per call, for the same time;
 *                the kernel side's rx counters say how many it took.
 *
 * Prints frames/s for each and the ratio addon / fs.read.
 *
 *   node test/dist/bench/tap-bench.js [--seconds 5]
 *
 * Needs root, /dev/net/tun, python3 (the flooder). The namespace and TAPs are removed at the
 * end even on failure or SIGINT; the flooder is ended by its pid; every loop is bounded
 * by time. A blocking `fs.read` is not woken by closing its fd, so the flood is kept
 * running until the last pending read has returned, and only then is the fd closed.
 */
import { read } from 'node:fs';
import { TapLink, createFrameBatch, loadTapAddon, pushFrame, type FrameBatch } from '@openigd/gateway';
import { Cleanup, background, must, sh, uniquePrefix, isRoot, type Background } from '../lib/ns.js';

const KERNEL_IP = '10.79.0.1';
const LINK_IP = '10.79.0.2';
const LINK_MAC = '02:00:00:00:00:02';
const FRAME_BYTES = 106;
const PAYLOAD_BYTES = FRAME_BYTES - 14 - 20 - 8;

/** Floods UDP datagrams to ip:port for `seconds`; prints "sent elapsedSeconds". */
const FLOODER = `
import socket, sys, time
ip, port, secs, size = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b = bytes(size)
a = (ip, port)
n = 0
t0 = time.monotonic()
end = t0 + secs
while time.monotonic() < end:
    for _ in range(256):
        try:
            s.sendto(b, a)
        except OSError:
            pass
    n += 256
print(n, time.monotonic() - t0, flush=True)
`;

interface Options { seconds: number; flooders: number }

function parseArgs(argv: readonly string[]): Options {
  let seconds = 5;
  let flooders = 1;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') seconds = Number(argv[++i]);
    else if (argv[i] === '--flooders') flooders = Number(argv[++i]);
    else if (argv[i] === '--help') {
      console.log('usage: node test/dist/bench/tap-bench.js [--seconds 5] [--flooders 1]');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be between 1 and 60');
  if (!(Number.isInteger(flooders) && flooders >= 1 && flooders <= 8)) throw new Error('--flooders must be 1 to 8');
  return { seconds, flooders };
}

let floodersPerRun = 1;

interface Flood { stop(): Promise<void>; result(): Promise<{ sent: number; seconds: number }> }

/** Starts `floodersPerRun` flooder processes in `ns`; `result` sums what they sent. */
function flood(ns: string, seconds: number): Flood {
  const procs: Background[] = [];
  for (let i = 0; i < floodersPerRun; i++) {
    procs.push(background(ns, 'python3', ['-c', FLOODER, LINK_IP, '9', String(seconds), String(PAYLOAD_BYTES)]));
  }
  return {
    stop: async () => {
      for (const p of procs) await p.stop();
    },
    result: async () => {
      let sent = 0;
      let longest = 0;
      for (const proc of procs) {
        await new Promise<void>((resolve) => {
          if (proc.child.exitCode !== null || proc.child.signalCode !== null) resolve();
          else proc.child.once('exit', () => resolve());
        });
        const [n, secs] = proc.output().trim().split(/\s+/).map(Number);
        sent += n ?? 0;
        longest = Math.max(longest, secs ?? seconds);
      }
      return { sent, seconds: longest || seconds };
    },
  };
}

async function kernelRxPackets(ns: string, dev: string): Promise<{ packets: number; dropped: number }> {
  const shown = JSON.parse(await must(null, 'ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev])) as
    { stats64?: { rx?: { packets: number; dropped: number } } }[];
  const rx = shown[0]?.stats64?.rx;
  return { packets: rx?.packets ?? 0, dropped: rx?.dropped ?? 0 };
}

async function setUpKernelSide(ns: string, dev: string): Promise<void> {
  await must(ns, 'ip', ['neigh', 'replace', LINK_IP, 'lladdr', LINK_MAC, 'dev', dev, 'nud', 'permanent']);
}

/** rx through the addon: counts frames delivered while the flood runs. */
async function rxAddon(ns: string, dev: string, seconds: number, cleanup: Cleanup): Promise<{ rate: number; offered: number; batches: number }> {
  const link = await TapLink.open(dev, { vnetHdr: false, netns: ns, kernelAddresses: [`${KERNEL_IP}/24`] });
  cleanup.add(() => link.close());
  await setUpKernelSide(ns, dev);
  let frames = 0;
  let batches = 0;
  let counting = false;
  link.start((batch: FrameBatch) => {
    if (!counting) return;
    frames += batch.count;
    batches++;
  });
  const f = flood(ns, seconds);
  cleanup.add(() => f.stop());
  const elapsed = await countingWindow(seconds, (on) => { counting = on; });
  const { sent, seconds: floodSeconds } = await f.result();
  link.close();
  return { rate: frames / elapsed, offered: sent / floodSeconds, batches: frames / Math.max(1, batches) };
}

/**
 * The measuring window inside a flood of `seconds`: 300 ms of warm-up, then counting on
 * until 300 ms before the flood ends; resolves with the window's length in seconds.
 */
async function countingWindow(seconds: number, setCounting: (on: boolean) => void): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  setCounting(true);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, (seconds - 0.6) * 1000));
  setCounting(false);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** rx with fs.read on a blocking fd: one read in flight at a time, like a naive reader. */
async function rxFsRead(ns: string, dev: string, seconds: number, cleanup: Cleanup): Promise<{ rate: number; offered: number }> {
  const tap = loadTapAddon();
  const { fd } = tap.openTap(dev, { vnetHdr: false, blocking: true });
  let closed = false;
  const close = (): void => {
    if (!closed) tap.closeTap(fd);
    closed = true;
  };
  cleanup.add(close);
  await must(null, 'ip', ['link', 'set', 'dev', dev, 'netns', ns]);
  await must(ns, 'ip', ['addr', 'add', `${KERNEL_IP}/24`, 'dev', dev]);
  await must(ns, 'ip', ['link', 'set', 'dev', dev, 'up']);
  await setUpKernelSide(ns, dev);
  const buf = Buffer.alloc(2048);
  let frames = 0;
  let counting = false;
  let stopping = false;
  let pending = false;
  const deadline = Date.now() + (seconds + 10) * 1000;
  const done = new Promise<void>((resolve) => {
    const next = (): void => {
      if (stopping || Date.now() > deadline) {
        resolve();
        return;
      }
      pending = true;
      read(fd, buf, 0, buf.length, null, (err, n) => {
        pending = false;
        if (!err && n > 0 && counting) frames++;
        if (err) stopping = true;
        next();
      });
    };
    next();
  });
  const f = flood(ns, seconds);
  cleanup.add(() => f.stop());
  const elapsed = await countingWindow(seconds, (on) => { counting = on; });
  // Stop while frames still arrive, so the read in flight returns before we close.
  stopping = true;
  await done;
  const { sent, seconds: floodSeconds } = await f.result();
  if (pending) {
    // The flood ended first: wake the last read with one more datagram (bounded tries).
    for (let i = 0; i < 20 && pending; i++) {
      await sh(ns, 'python3', ['-c', FLOODER, LINK_IP, '9', '0.05', String(PAYLOAD_BYTES)]);
    }
  }
  close();
  return { rate: frames / elapsed, offered: sent / floodSeconds };
}

/** tx through writeBatch: 64 frames per call, as fast as the kernel takes them. */
async function txAddon(ns: string, dev: string, seconds: number, cleanup: Cleanup): Promise<{ rate: number; accepted: number; kernelRate: number }> {
  const link = await TapLink.open(dev, { vnetHdr: false, netns: ns, kernelAddresses: [`${KERNEL_IP}/24`] });
  cleanup.add(() => link.close());
  const kernelMac = (JSON.parse(await must(null, 'ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])) as { address: string }[])[0]!.address;
  const batch = createFrameBatch(64, new Uint8Array(64 * 128));
  const frame = udpFrame(kernelMac);
  for (let i = 0; i < 64; i++) {
    batch.buffer.set(frame, i * 128);
    pushFrame(batch, i * 128, frame.length);
  }
  const before = await kernelRxPackets(ns, dev);
  let written = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  // Write in slices of ~20 ms and yield in between, so the event loop stays alive.
  while (process.hrtime.bigint() < end) {
    const sliceEnd = process.hrtime.bigint() + 20_000_000n;
    while (process.hrtime.bigint() < sliceEnd) {
      written += link.writeBatch(batch);
    }
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = await kernelRxPackets(ns, dev);
  link.close();
  return { rate: written / elapsed, accepted: (after.packets - before.packets) / Math.max(1, written), kernelRate: (after.packets - before.packets) / elapsed };
}

/** A 106-byte IPv4/UDP frame from LINK to KERNEL (UDP checksum 0: none, legal in IPv4). */
function udpFrame(kernelMac: string): Uint8Array {
  const f = new Uint8Array(FRAME_BYTES);
  const dv = new DataView(f.buffer);
  f.set(kernelMac.split(':').map((h) => parseInt(h, 16)), 0);
  f.set(LINK_MAC.split(':').map((h) => parseInt(h, 16)), 6);
  dv.setUint16(12, 0x0800);
  dv.setUint8(14, 0x45);
  dv.setUint16(16, FRAME_BYTES - 14);
  dv.setUint16(20, 0x4000);
  dv.setUint8(22, 64);
  dv.setUint8(23, 17);
  f.set(LINK_IP.split('.').map(Number), 26);
  f.set(KERNEL_IP.split('.').map(Number), 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += dv.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  dv.setUint16(24, ~sum & 0xffff);
  dv.setUint16(34, 4000);
  dv.setUint16(36, 9);
  dv.setUint16(38, FRAME_BYTES - 34);
  return f;
}

async function main(): Promise<void> {
  const { seconds, flooders } = parseArgs(process.argv.slice(2));
  floodersPerRun = flooders;
  if (!isRoot()) {
    console.log('tap-bench: skipped, needs root (CAP_NET_ADMIN)');
    return;
  }
  if ((await sh(null, 'python3', ['-c', 'pass'])).code !== 0) {
    console.log('tap-bench: skipped, needs python3 for the flooder');
    return;
  }
  loadTapAddon();
  const prefix = uniquePrefix('lt');
  const ns = prefix;
  const cleanup = new Cleanup();
  const onSignal = (): void => {
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await must(null, 'ip', ['netns', 'add', ns]);
    cleanup.add(() => sh(null, 'ip', ['netns', 'del', ns]));
    await must(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    console.log(`tap-bench: node ${process.version}, ${seconds} s per measurement, ${FRAME_BYTES}-byte frames, ${flooders} flooder(s), namespace ${ns}`);
    const addon = await rxAddon(ns, `${prefix}a`, seconds, cleanup);
    console.log(`rx addon (uv_poll, batches): ${fmt(addon.rate)} frames/s (offered ${fmt(addon.offered)}/s, ${addon.batches.toFixed(1)} frames per batch)`);
    const fsr = await rxFsRead(ns, `${prefix}b`, seconds, cleanup);
    console.log(`rx fs.read (blocking fd):     ${fmt(fsr.rate)} frames/s (offered ${fmt(fsr.offered)}/s)`);
    console.log(`rx ratio addon / fs.read:      ${(addon.rate / Math.max(1, fsr.rate)).toFixed(1)}x`);
    const tx = await txAddon(ns, `${prefix}c`, Math.min(seconds, 3), cleanup);
    console.log(`tx addon (writeBatch of 64):  ${fmt(tx.rate)} frames/s written, kernel side counted ${fmt(tx.kernelRate)}/s (${(tx.accepted * 100).toFixed(0)}%)`);
  } finally {
    await cleanup.run();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function fmt(perSecond: number): string {
  return `${(perSecond / 1000).toFixed(0)}k`;
}

main().catch((e: unknown) => {
  console.error(`tap-bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
