/**
 * TAP link tests against a real kernel: the link contract on TAPs whose kernel side sits
 * in a namespace of the test's own (`oi-lt-XXXX`), the addon's errors and misuse, a
 * device deleted under a running reader, and TCP between two namespaces through two TAPs
 * bridged by the test (GSO super-frames carried through, or segmented in software).
 * Skipped with a message when not root, without /dev/net/tun or without the addon.
 * Every namespace and device is removed in `finally`; every child process is bounded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseIpv4, parseMac, waitUntil, runLinkContract, tapTestsSkipReason, type ContractFixture } from '../testing/index.js';
import { LinkError, type Link } from './link.js';
import { TapLink, loadTapAddon, type TapLinkOptions } from './tap-link.js';
import { run } from '../exec.js';

const SKIP = tapTestsSkipReason('tap-link tests');

/** Namespaces made by this file, removed at the end even if a test forgot. */
const madeNamespaces = new Set<string>();
after(async () => {
  for (const ns of madeNamespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
});

function uniqueName(): string {
  return `oi-lt-${randomBytes(2).toString('hex')}`;
}

async function makeNamespace(): Promise<string> {
  const ns = uniqueName();
  await run('ip', ['netns', 'add', ns]);
  madeNamespaces.add(ns);
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

async function removeNamespace(ns: string): Promise<void> {
  await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  madeNamespaces.delete(ns);
}

interface Child {
  /** Lines printed so far on stdout. */
  readonly lines: string[];
  /** Resolves with the exit code (or -1 when killed at the deadline). */
  readonly exited: Promise<number>;
  kill(): void;
}

/** Runs `node -e script args...` inside `ns`, killed after `timeoutMs`. */
function nodeInNs(ns: string, script: string, args: readonly (string | number)[], timeoutMs: number): Child {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (stderr.trim()) console.log(`[${ns}] ${stderr.trim().split('\n')[0]}`);
      resolve(code ?? -1);
    });
  });
  return { lines, exited, kill: () => child.kill('SIGKILL') };
}

const SEND_UDP = `
const [ip, port, count, size] = process.argv.slice(1);
const s = require('dgram').createSocket('udp4');
const b = Buffer.alloc(+size);
let i = 0;
const next = () => {
  if (i >= +count) { s.close(); return; }
  b.writeUInt32BE(i, 0);
  for (let k = 4; k < +size; k++) b[k] = (i + k) & 255;
  i++;
  s.send(b, +port, ip, (e) => { if (e) { console.error(e.message); process.exit(2); } next(); });
};
next();`;

const RECEIVE_UDP = `
const [ip, port, count] = process.argv.slice(1);
const s = require('dgram').createSocket('udp4');
let n = 0;
s.on('message', (m) => { console.log(m.toString('hex')); if (++n >= +count) process.exit(0); });
s.bind(+port, ip, () => console.log('ready'));`;

const UDP_ECHO = `
const [ip, port, peer, count, size] = process.argv.slice(1);
const s = require('dgram').createSocket('udp4');
let n = 0;
s.on('message', () => { if (++n >= +count) { console.log(n); process.exit(0); } });
s.bind(+port, ip, () => {
  const b = Buffer.alloc(+size);
  for (let i = 0; i < +count; i++) { b.writeUInt32BE(i, 0); s.send(Buffer.from(b), +port, peer); }
});
setTimeout(() => { console.log(n); process.exit(0); }, +process.argv[6]);`;

const PEER_IP = '10.77.0.1';
const LINK_IP = '10.77.0.2';
const LINK_MAC = '02:00:00:00:00:02';

function kernelFixture(options: TapLinkOptions): () => Promise<ContractFixture> {
  return async () => {
    const ns = await makeNamespace();
    const children: Child[] = [];
    let link: TapLink | null = null;
    try {
      link = await TapLink.open(ns, { ...options, netns: ns, kernelAddresses: [`${PEER_IP}/24`] });
      const shown = JSON.parse(await run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ns])) as { address: string }[];
      const peerMac = parseMac(shown[0]!.address);
      const name = link.name;
      const opened = link;
      return {
        link,
        linkMac: parseMac(LINK_MAC),
        linkIp: parseIpv4(LINK_IP),
        expectPartialRx: options.offloads ?? false,
        peer: {
          mac: peerMac,
          ip: parseIpv4(PEER_IP),
          addStaticNeighbour: async () => {
            await run('ip', ['-n', ns, 'neigh', 'replace', LINK_IP, 'lladdr', LINK_MAC, 'dev', name, 'nud', 'permanent']);
          },
          sendUdp: async (port, count, payloadBytes) => {
            const c = nodeInNs(ns, SEND_UDP, [LINK_IP, port, count, payloadBytes], 10_000);
            children.push(c);
            assert.equal(await c.exited, 0, 'the UDP sender in the namespace finished');
          },
          receiveUdp: async (port, count, timeoutMs) => {
            const c = nodeInNs(ns, RECEIVE_UDP, [PEER_IP, port, count], timeoutMs);
            children.push(c);
            await waitUntil(() => c.lines[0] === 'ready', 5000);
            return { done: c.exited.then(() => c.lines.slice(1).map((h) => Uint8Array.from(Buffer.from(h, 'hex')))) };
          },
          udpEcho: async (port, count, payloadBytes, timeoutMs) => {
            const c = nodeInNs(ns, UDP_ECHO, [PEER_IP, port, LINK_IP, count, payloadBytes, timeoutMs], timeoutMs + 5000);
            children.push(c);
            await c.exited;
            return Number(c.lines[0] ?? 0);
          },
          neighbourMac: async () => {
            const entries = JSON.parse(await run('ip', ['-n', ns, '-j', 'neigh', 'show', LINK_IP, 'dev', name])) as { lladdr?: string }[];
            return entries[0]?.lladdr ?? null;
          },
          linkPresent: async () => run('ip', ['-n', ns, 'link', 'show', 'dev', name]).then(() => true, () => false),
        },
        close: async () => {
          for (const c of children) c.kill();
          opened.close();
          await removeNamespace(ns);
        },
      };
    } catch (e) {
      for (const c of children) c.kill();
      link?.close();
      await removeNamespace(ns);
      throw e;
    }
  };
}

runLinkContract('link contract: TAP without vnet header', kernelFixture({ vnetHdr: false }), SKIP);
runLinkContract('link contract: TAP with vnet header, offloads off', kernelFixture({ vnetHdr: true, offloads: false }), SKIP);
runLinkContract('link contract: TAP with vnet header, offloads on', kernelFixture({ vnetHdr: true, offloads: true }), SKIP);
runLinkContract('link contract: TAP with offloads on, no yield after a batch', kernelFixture({ vnetHdr: true, offloads: true, yieldAfterBatch: false }), SKIP);

describe('TAP addon and link', { skip: SKIP ?? false }, () => {
  it('kernelState follows the kernel side in its namespace: up, down, gone; a deleted TAP stops reading with onError', async () => {
    const ns = await makeNamespace();
    const link = await TapLink.open(ns, { netns: ns });
    try {
      assert.equal(link.kernelState(), 'up');
      await run('ip', ['-n', ns, 'link', 'set', ns, 'down']);
      assert.equal(link.kernelState(), 'down');
      await run('ip', ['-n', ns, 'link', 'set', ns, 'up']);
      assert.equal(link.kernelState(), 'up');
      const stopped = new Promise<LinkError>((resolve) => link.start(() => {}, resolve));
      await run('ip', ['-n', ns, 'link', 'del', ns]);
      assert.match((await stopped).code, /^EBADFD?$/);
      assert.equal(link.kernelState(), 'gone');
    } finally {
      link.close();
      await removeNamespace(ns);
    }
    assert.equal(link.kernelState(), 'gone', 'closed');
  });

  it('reports errno codes: EBUSY for a TAP already attached, bad names as argument errors', async () => {
    const name = uniqueName();
    const first = await TapLink.open(name, { up: false });
    try {
      await assert.rejects(TapLink.open(name, { up: false }), (e: unknown) => e instanceof LinkError && e.code === 'EBUSY' && /EBUSY/.test(e.message));
      await assert.rejects(TapLink.open('x'.repeat(16)), (e: unknown) => e instanceof LinkError && e.code === 'ERR_INVALID_ARG_TYPE');
      await assert.rejects(TapLink.open(''), (e: unknown) => e instanceof LinkError && e.code === 'ERR_INVALID_ARG_TYPE');
    } finally {
      first.close();
    }
    assert.equal(await run('ip', ['link', 'show', 'dev', name]).then(() => true, () => false), false, 'closed TAP is gone');
  });

  it('kernelState of a TAP in its own namespace needs no CAP_SYS_ADMIN (a container with NET_ADMIN only)', async () => {
    const addonPath = fileURLToPath(new URL('../../build/Release/openigd_tap.node', import.meta.url));
    const probe = `const a = require(${JSON.stringify(addonPath)}); const t = a.openTap('${uniqueName()}', {});
      try { console.log(a.kernelState(t.fd)); } catch (e) { console.log(e.code + ' ' + e.message); } finally { a.closeTap(t.fd); }`;
    const out = await run('setpriv', ['--bounding-set', '-sys_admin', '--inh-caps', '-sys_admin', process.execPath, '-e', probe], 10_000);
    assert.match(out.trim(), /^(up|down)$/, out);
  });

  it('says what is missing: EPERM without CAP_NET_ADMIN, EACCES for an unprivileged user, ENOENT without /dev/net/tun', async () => {
    const addonPath = fileURLToPath(new URL('../../build/Release/openigd_tap.node', import.meta.url));
    const probe = `try { require(${JSON.stringify(addonPath)}).openTap('${uniqueName()}', {}); console.log('opened'); }
      catch (e) { console.log(e.code + ' ' + e.message); }`;
    const node = [process.execPath, '-e', probe];
    const cases: [string, string[], RegExp][] = [
      ['setpriv', ['--bounding-set', '-net_admin', '--inh-caps', '-net_admin', ...node], /^EPERM .*CAP_NET_ADMIN/],
      // Its own /dev/net/tun, mode 0600 as the kernel makes it: the host's may be 0666 (udev's rule).
      ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
        'mount -t tmpfs none /dev/net && mknod -m 600 /dev/net/tun c 10 200 && exec setpriv --reuid 65534 --regid 65534 --clear-groups "$0" "$@"', ...node],
      /^EACCES .*\/dev\/net\/tun/],
      // A mount namespace of its own, where /dev/net is an empty tmpfs: the host's is untouched.
      ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$0" "$@"', ...node], /^ENOENT .*no \/dev\/net\/tun/],
    ];
    for (const [tool, args, expected] of cases) {
      const out = await run(tool, args, 10_000).catch((e: Error) => `tool failed: ${e.message}`);
      if (out.startsWith('tool failed') && /ENOENT|not found/.test(out)) {
        console.log(`${tool} not available: case skipped`);
        continue;
      }
      assert.match(out.trim(), expected, `${tool} ${args.slice(0, 2).join(' ')}`);
    }
  });

  it('attaches several queues of a multi-queue TAP', async () => {
    const name = uniqueName();
    const q0 = await TapLink.open(name, { multiQueue: true, up: false });
    let q1: TapLink | null = null;
    try {
      q1 = await TapLink.open(name, { multiQueue: true, up: false });
      assert.notEqual(q0.fd, q1.fd);
    } finally {
      q1?.close();
      q0.close();
    }
    assert.equal(await run('ip', ['link', 'show', 'dev', name]).then(() => true, () => false), false);
  });

  it('the addon rejects misuse with errors and never touches fds it did not open', async () => {
    const tap = loadTapAddon();
    const name = uniqueName();
    const { fd } = tap.openTap(name, { vnetHdr: true });
    try {
      const buf = new Uint8Array(1024);
      const i32 = new Int32Array(4);
      const bad: [string, () => unknown][] = [
        ['openTap without a name', () => (tap.openTap as (...a: unknown[]) => unknown)()],
        ['openTap with a non-boolean option', () => tap.openTap(name, { vnetHdr: 1 as unknown as boolean })],
        ['openTap offloads without vnetHdr', () => tap.openTap(uniqueName(), { offloads: true })],
        ['writeBatch on stdin', () => tap.writeBatch(0, buf, i32, i32, 1)],
        ['writeBatch with a fractional fd', () => tap.writeBatch(fd + 0.5, buf, i32, i32, 1)],
        ['writeBatch with an Int32Array buffer', () => tap.writeBatch(fd, i32 as unknown as Uint8Array, i32, i32, 1)],
        ['writeBatch count past the arrays', () => tap.writeBatch(fd, buf, i32, i32, 5)],
        ['writeBatch frame past the buffer', () => tap.writeBatch(fd, buf, Int32Array.of(1000), Int32Array.of(100), 1)],
        ['writeBatch negative offset', () => tap.writeBatch(fd, buf, Int32Array.of(-4), Int32Array.of(60), 1)],
        ['writeBatch short header array', () => tap.writeBatch(fd, buf, Int32Array.of(0, 64), Int32Array.of(60, 60), 2, new Uint8Array(12))],
        ['startReader with empty lengths', () => tap.startReader(fd, buf, new Int32Array(0), () => undefined)],
        ['startReader with slots under 64 bytes', () => tap.startReader(fd, buf, new Int32Array(32), () => undefined)],
        ['startReader without a callback', () => tap.startReader(fd, buf, i32, null as unknown as () => void)],
        ['startReader with a non-boolean yieldAfterBatch', () => tap.startReader(fd, buf, i32, () => undefined, 1 as unknown as boolean)],
        ['closeTap on stdout', () => tap.closeTap(1)],
        ['stopReader with a string', () => tap.stopReader('1' as unknown as number)],
      ];
      for (const [what, call] of bad) assert.throws(call, (e: unknown) => e instanceof Error && typeof (e as { code?: unknown }).code === 'string', what);
      const id = tap.startReader(fd, buf, i32, () => undefined);
      assert.throws(() => tap.startReader(fd, buf, i32, () => undefined), (e: unknown) => (e as { code?: string }).code === 'EBUSY');
      tap.stopReader(id);
      tap.stopReader(id);
      tap.stopReader(123_456);
      assert.equal(tap.writeBatch(fd, buf, i32, i32, 0), 0);
    } finally {
      tap.closeTap(fd);
    }
    assert.throws(() => tap.closeTap(fd), (e: unknown) => (e as { code?: string }).code === 'EBADF');
  });

  it('a worker terminated with readers running (one just stopped) releases its TAPs without crashing', async () => {
    const addonPath = fileURLToPath(new URL('../../build/Release/openigd_tap.node', import.meta.url));
    const names = [uniqueName(), uniqueName()];
    const code = `
      const a = require(${JSON.stringify(addonPath)});
      const ids = ${JSON.stringify(names)}.map((n) => {
        const t = a.openTap(n, { vnetHdr: true });
        return a.startReader(t.fd, new Uint8Array(64 * 2048), new Int32Array(64), () => {});
      });
      a.stopReader(ids[1]);
      require('node:worker_threads').parentPort.postMessage('open');`;
    const worker = new Worker(code, { eval: true });
    try {
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      for (const n of names) assert.ok(await run('ip', ['link', 'show', 'dev', n]).then(() => true, () => false), `${n} open in the worker`);
      await worker.terminate();
      for (const n of names) assert.equal(await run('ip', ['link', 'show', 'dev', n]).then(() => true, () => false), false, `${n} released`);
    } finally {
      await worker.terminate();
      for (const n of names) await run('ip', ['link', 'del', 'dev', n]).catch(() => undefined);
    }
  });

  it('a TAP deleted under a running reader stops it and reports an error; close does not hang', async () => {
    const name = uniqueName();
    const link = await TapLink.open(name);
    try {
      const errors: LinkError[] = [];
      link.start(() => undefined, (e) => errors.push(e));
      await run('ip', ['link', 'del', 'dev', name]);
      assert.ok(await waitUntil(() => errors.length > 0, 3000), 'onError heard of the deleted device');
      assert.ok(['EBADF', 'EBADFD', 'EIO'].includes(errors[0]!.code), errors[0]!.code);
      // The reader stopped itself: no second report, no busy loop on a dead fd.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(errors.length, 1);
      console.log(`reader of a deleted TAP stopped with ${errors[0]!.code}`);
    } finally {
      link.close();
    }
  });
});

const TCP_SINK = `
const [ip, port] = process.argv.slice(1);
const h = require('crypto').createHash('sha256');
let n = 0, t0 = 0n;
const srv = require('net').createServer((s) => {
  s.on('data', (d) => { if (n === 0) t0 = process.hrtime.bigint(); h.update(d); n += d.length; });
  s.on('end', () => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex'), ms }));
    process.exit(0);
  });
});
srv.listen(+port, ip, () => console.log('ready'));`;

const TCP_SOURCE = `
const [ip, port, total] = process.argv.slice(1);
const h = require('crypto').createHash('sha256');
const chunk = Buffer.alloc(65536);
let sent = 0, k = 0;
const s = require('net').connect(+port, ip, () => {
  const pump = () => {
    while (sent < +total) {
      for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + k) & 255;
      k++;
      const part = chunk.subarray(0, Math.min(chunk.length, +total - sent));
      h.update(part);
      sent += part.length;
      if (!s.write(Buffer.from(part))) return s.once('drain', pump);
    }
    s.end(() => console.log(JSON.stringify({ bytes: sent, sha256: h.digest('hex') })));
  };
  pump();
});`;

interface Transfer { bytes: number; sha256: string; ms?: number }

/** Two namespaces, one TAP each, bridged frame for frame by this process; TCP from A to B. */
async function bridgedTransfer(a: TapLinkOptions, b: TapLinkOptions, totalBytes: number): Promise<{ sent: Transfer; got: Transfer; la: Link; lb: Link }> {
  const nsA = await makeNamespace();
  const nsB = await makeNamespace();
  const links: TapLink[] = [];
  const children: Child[] = [];
  try {
    const la = await TapLink.open(`${nsA}a`, { ...a, netns: nsA, kernelAddresses: ['10.78.0.1/24'] });
    links.push(la);
    const lb = await TapLink.open(`${nsB}b`, { ...b, netns: nsB, kernelAddresses: ['10.78.0.2/24'] });
    links.push(lb);
    la.start((batch) => lb.writeBatch(batch));
    lb.start((batch) => la.writeBatch(batch));
    const sink = nodeInNs(nsB, TCP_SINK, ['10.78.0.2', 5001], 30_000);
    children.push(sink);
    assert.ok(await waitUntil(() => sink.lines[0] === 'ready', 5000), 'sink listening');
    const source = nodeInNs(nsA, TCP_SOURCE, ['10.78.0.2', 5001, totalBytes], 30_000);
    children.push(source);
    assert.equal(await source.exited, 0, 'source finished');
    assert.equal(await sink.exited, 0, 'sink finished');
    const sent = JSON.parse(source.lines.at(-1)!) as Transfer;
    const got = JSON.parse(sink.lines.at(-1)!) as Transfer;
    return { sent, got, la, lb };
  } finally {
    for (const c of children) c.kill();
    for (const l of links) l.close();
    await removeNamespace(nsA);
    await removeNamespace(nsB);
  }
}

function report(what: string, r: { got: Transfer; la: Link; lb: Link }): void {
  const gbps = r.got.ms ? ((r.got.bytes * 8) / (r.got.ms / 1000) / 1e9).toFixed(2) : '?';
  const a = r.la.counters;
  const b = r.lb.counters;
  console.log(`${what}: ${r.got.bytes} bytes in ${r.got.ms?.toFixed(0)} ms (${gbps} Gbit/s); A rx ${a.rxFrames} frames (${a.rxGsoFrames} GSO) in ${a.rxBatches} batches; B tx ${b.txFrames} frames (${b.txSoftwareGso} segmented in software)`);
}

describe('TCP through two bridged TAPs', { skip: SKIP ?? false }, () => {
  const total = 64 * 1024 * 1024;

  it('offloads on both sides: GSO super-frames cross whole, data intact', async () => {
    const r = await bridgedTransfer({ offloads: true }, { offloads: true }, total);
    report('offloads on both', r);
    assert.deepEqual({ bytes: r.got.bytes, sha256: r.got.sha256 }, { bytes: r.sent.bytes, sha256: r.sent.sha256 });
    assert.ok(r.la.counters.rxGsoFrames > 0, 'the sending kernel handed us super-frames');
    assert.equal(r.lb.counters.txSoftwareGso, 0);
  });

  it('offloads on one side, no vnet header on the other: super-frames segmented in software, data intact', async () => {
    const r = await bridgedTransfer({ offloads: true }, { vnetHdr: false }, total);
    report('offloads to plain', r);
    assert.deepEqual({ bytes: r.got.bytes, sha256: r.got.sha256 }, { bytes: r.sent.bytes, sha256: r.sent.sha256 });
    assert.ok(r.lb.counters.txSoftwareGso > 0, 'B segmented super-frames');
    assert.ok(r.lb.counters.txSoftwareCsum > 0, 'B completed partial checksums');
  });

  it('offloads on one side, vnet header without offloads on the other: the kernel takes the super-frames', async () => {
    const r = await bridgedTransfer({ offloads: true }, { offloads: false }, total);
    report('offloads to vnet without offloads', r);
    assert.deepEqual({ bytes: r.got.bytes, sha256: r.got.sha256 }, { bytes: r.sent.bytes, sha256: r.sent.sha256 });
  });

  it('no offloads anywhere: plain frames, data intact', async () => {
    const r = await bridgedTransfer({ vnetHdr: false }, { vnetHdr: false }, total);
    report('no offloads', r);
    assert.deepEqual({ bytes: r.got.bytes, sha256: r.got.sha256 }, { bytes: r.sent.bytes, sha256: r.sent.sha256 });
    assert.equal(r.la.counters.rxGsoFrames, 0);
  });
});
