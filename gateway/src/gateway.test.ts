/**
 * The gateway's start is all or nothing: each step of `Gateway.start` is made to fail in
 * turn (a TAP's namespace missing, the capture directory or the admin socket's directory
 * not creatable, a corrupt mapping store, the admin TCP port in use), and after each the
 * test checks that no TAP device is left (in its own namespace `oi-gw-XXXX` and in the
 * host's), that the process holds no more timers, sockets or file descriptors than before,
 * and that the error is one line naming the part that failed. A start that succeeds is
 * stopped the same way. Needs root and /dev/net/tun; skipped with a message otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from './config/config.js';
import { Gateway } from './gateway.js';
import { monotonicClock } from './clock.js';
import { createLogger } from './log.js';
import { tapTestsSkipReason } from './testing/index.js';
import { run } from './exec.js';

const SKIP = tapTestsSkipReason('gateway start tests');

/**
 * Handles that would keep the process alive or leak: timers, servers, sockets. (Not
 * `PipeWrap`: the stdio pipes of the `ip` commands this test runs come and go.)
 */
const WATCHED = new Set(['Timeout', 'TCPServerWrap', 'PipeServerWrap', 'TCPSocketWrap', 'TCPWrap', 'UDPWrap']);

function handles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => WATCHED.has(r)).sort();
}

/** The watched handles once closes still in flight (of the previous test) have finished: stable over 40 ms, waited for at most 1 s. */
async function steadyHandles(): Promise<string[]> {
  let last = handles().join();
  for (let i = 0, same = 0; i < 50 && same < 2; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const now = handles().join();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return handles();
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Names of links in `ns` (or the host's namespace) that start with `prefix`. */
async function linksNamed(prefix: string, ns?: string): Promise<string[]> {
  const out = await run('ip', [...(ns ? ['-n', ns] : []), '-o', 'link', 'show']);
  return out.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n.startsWith(prefix));
}

/**
 * Waits (at most 2 s) until no TAP of `prefix` is listed and the watched handles are back
 * to `handlesBefore`: a closed TAP leaves the kernel's list, and a closed server Node's
 * list, shortly after the close. The caller then asserts, so anything left still fails.
 */
async function settle(prefix: string, ns: string, handlesBefore: readonly string[]): Promise<void> {
  const clean = async () => (await linksNamed(prefix, ns)).length === 0 && (await linksNamed(prefix)).length === 0
    && handles().join() === handlesBefore.join();
  for (let i = 0; i < 100 && !(await clean()); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('Gateway: a failed start leaves nothing behind', { skip: SKIP }, () => {
  const id = randomBytes(2).toString('hex');
  const ns = `oi-gw-${id}`;
  const tapPrefix = `oig${id}`;
  let dir = '';
  let aFile = '';
  const logged: string[] = [];
  const log = createLogger('error', (l) => { logged.push(l); });

  before(async () => {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    dir = await mkdtemp(join(tmpdir(), 'oi-gw-'));
    aFile = join(dir, 'a-file');
    await writeFile(aFile, 'not a directory\n');
  });
  after(async () => {
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A config whose three TAPs have their kernel side in the test's namespace; `extra` overrides sections. */
  function config(extra: Record<string, unknown> = {}, state = join(dir, 'state')) {
    const base: Record<string, unknown> = {
      lan: { tap: `${tapPrefix}l`, netns: ns, address: '10.77.0.1/24', dhcp: { range: '10.77.0.100-10.77.0.150' } },
      wan: { tap: `${tapPrefix}w`, netns: ns, address: 'dhcp' },
      local: { tap: `${tapPrefix}c`, netns: ns },
      state,
      igd: { enabled: false },
      log: { level: 'error' },
    };
    for (const [k, v] of Object.entries(extra)) base[k] = typeof v === 'object' && v && !Array.isArray(v) ? { ...(base[k] as object), ...v } : v;
    return checkConfig(base);
  }

  /** Starts a gateway that must fail; returns the error after checking nothing is left. */
  async function failedStart(cfg: ReturnType<typeof config>): Promise<Error> {
    const handlesBefore = await steadyHandles();
    const fdsBefore = openFds();
    const gateway = new Gateway({ config: cfg, log, clock: monotonicClock() });
    const error = await gateway.start().then(() => null, (e: unknown) => e as Error);
    if (!error) {
      await gateway.stop();
      assert.fail('start should have failed');
    }
    await settle(tapPrefix, ns, handlesBefore);
    assert.deepEqual(await linksNamed(tapPrefix, ns), [], 'TAPs left in the namespace');
    assert.deepEqual(await linksNamed(tapPrefix), [], 'TAPs left in the host namespace');
    assert.deepEqual(handles(), handlesBefore, 'timers or sockets left');
    assert.equal(openFds(), fdsBefore, 'file descriptors left');
    assert.doesNotMatch(error.message, /\n/, 'the error is one line');
    return error;
  }

  it('the LAN TAP cannot be moved to its namespace', async () => {
    const e = await failedStart(config({ lan: { netns: `${ns}-none` } }));
    assert.match(e.message, new RegExp(`^cannot set up TAP ${tapPrefix}l: `));
  });

  it('the WAN TAP cannot be moved (the LAN TAP is closed again)', async () => {
    const e = await failedStart(config({ wan: { netns: `${ns}-none` } }));
    assert.match(e.message, new RegExp(`^cannot set up TAP ${tapPrefix}w: `));
  });

  it('the local TAP cannot be moved (LAN and WAN are closed again)', async () => {
    const e = await failedStart(config({ local: { tap: `${tapPrefix}c`, netns: `${ns}-none` } }));
    assert.match(e.message, new RegExp(`^cannot set up TAP ${tapPrefix}c: `));
  });

  it('the capture directory cannot be created', async () => {
    const e = await failedStart(config({ capture: { dir: join(aFile, 'captures') } }));
    assert.equal(e.message, `capture.dir: cannot create ${join(aFile, 'captures')} (ENOTDIR)`);
  });

  it('the IGD cannot start: its mapping store is corrupt (captures open, WAN DHCP running)', async () => {
    const state = join(dir, 'corrupt-state');
    await failedStart(config({}, state)).catch(() => undefined);
    await writeFile(join(state, 'mappings.journal'), 'this is not a record\n');
    const e = await failedStart(config({ igd: { enabled: true }, capture: { dir: join(dir, 'cap') } }, state));
    assert.equal((e as Error & { code?: string }).code, 'ERR_STORE_CORRUPT');
    assert.match(e.message, /mappings\.journal/);
  });

  it('the admin socket\'s directory cannot be created', async () => {
    const socket = join(aFile, 'admin.sock');
    const e = await failedStart(config({ admin: { socket } }));
    // Node's recursive mkdir says EEXIST or ENOTDIR for a file in the way, by version.
    assert.match(e.message, /^admin\.socket: cannot listen: (ENOTDIR|EEXIST): /);
  });

  it('the admin TCP port is in use (the Unix socket is closed and removed again)', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const { port } = busy.address() as { port: number };
      const socket = join(dir, 'admin-busy.sock');
      const e = await failedStart(config({ admin: { socket, listen: `127.0.0.1:${port}`, token: 'a-token-of-twenty-chars' } }));
      assert.match(e.message, new RegExp(`^admin\\.listen: cannot listen: listen EADDRINUSE.*${port}`));
      assert.equal(existsSync(socket), false);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it('a start that succeeds, stopped, leaves nothing either; a second start works', async () => {
    for (let round = 0; round < 2; round++) {
      const handlesBefore = await steadyHandles();
      const fdsBefore = openFds();
      const socket = join(dir, 'admin.sock');
      const gateway = new Gateway({ config: config({ admin: { socket }, capture: { dir: join(dir, 'cap') } }), log, clock: monotonicClock() });
      await gateway.start();
      assert.equal((await linksNamed(tapPrefix, ns)).length, 3);
      assert.equal(existsSync(socket), true);
      await gateway.stop();
      await settle(tapPrefix, ns, handlesBefore);
      assert.deepEqual(await linksNamed(tapPrefix, ns), []);
      assert.equal(existsSync(socket), false);
      assert.deepEqual(handles(), handlesBefore);
      assert.equal(openFds(), fdsBefore);
    }
  });
});
