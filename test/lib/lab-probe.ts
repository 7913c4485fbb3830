/**
 * What the IGD end-to-end tests share about the lab: whether a port mapping really
 * forwards (a one-shot listener in a LAN host, a sender in the internet namespace), and
 * `upnpc -l` / `-L` output parsed into rows.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabRecord } from '@openigd/gateway';
import { background, sh, until, type Cleanup } from './ns.js';

export const PORT_PROBE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'e2e', 'tools', 'port-probe.py');
const ANNOUNCE_LISTEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'e2e', 'tools', 'natpmp-announce-listen.py');

/**
 * Listens on 224.0.0.1:5350 in namespace `ns` (joined on `address`: a LAN host's) while
 * `during` runs, until `done` holds for what was heard (at most `timeoutMs`); returns the
 * listener's whole output (natpmp-announce-listen.py's `announce` lines). `unicastToo`:
 * bound to 0.0.0.0:5350 instead, so it also hears datagrams sent to the host itself.
 */
export async function announcementsDuring(ns: string, address: string, cleanup: Cleanup, during: () => Promise<void>,
  done: (output: string) => boolean, timeoutMs = 30_000, unicastToo = false): Promise<string> {
  const listener = background(ns, 'python3', [ANNOUNCE_LISTEN, address, String(Math.ceil(timeoutMs / 1000) + 30), ...(unicastToo ? ['any'] : [])]);
  cleanup.add(() => listener.stop());
  await until('the announcement listener', async () => listener.output().includes('ready'), 10_000, 20);
  await during();
  await until('the announcements', async () => done(listener.output()), timeoutMs, 100);
  await listener.stop();
  return listener.output();
}

/** One row of `upnpc -l` or `-L`. */
export interface UpnpcListed {
  readonly protocol: string;
  readonly externalPort: number;
  readonly internalClient: string;
  readonly internalPort: number;
  readonly description: string;
}

/** `upnpc -l` / `-L`, parsed: the rows ` i proto ext->client:port 'desc' 'remote' lease`. */
export function parseUpnpcList(out: string): UpnpcListed[] {
  const rows: UpnpcListed[] = [];
  for (const m of out.matchAll(/^\s*\d+\s+(TCP|UDP)\s+(\d+)->([\d.]+):(\d+)\s+'([^']*)'/gm)) {
    rows.push({ protocol: m[1]!, externalPort: Number(m[2]), internalClient: m[3]!, internalPort: Number(m[4]), description: m[5]! });
  }
  return rows;
}

export interface ProbeOptions {
  /** Whether the datagram or connection must get through (and be answered) or must not. */
  readonly expect: boolean;
  /** The LAN host namespace that listens; default h1. */
  readonly listenNs?: string;
  /** The sender's source address in the internet namespace; default its route's (the WAN's next hop). */
  readonly source?: string;
}

/**
 * Listens once on `internalPort` in a LAN host (waiting until the socket is open), sends
 * `ping` from the internet namespace to externalAddr:externalPort, and asserts that it got
 * through from the expected source and was answered, or that nothing got through.
 * Resolves with what the listener printed.
 */
export async function probeMapping(lab: LabRecord, cleanup: Cleanup, proto: 'tcp' | 'udp', externalAddr: string,
  externalPort: number, internalPort: number, opts: ProbeOptions): Promise<string> {
  const listener = background(opts.listenNs ?? lab.namespaces.h1, 'python3', [PORT_PROBE, 'listen', proto, String(internalPort), opts.expect ? '8' : '2']);
  cleanup.add(() => listener.stop());
  await listener.listening(proto, internalPort);
  const sent = await sh(lab.namespaces.inet, 'python3', [PORT_PROBE, 'send', proto, externalAddr, String(externalPort),
    opts.expect ? '5' : '1.5', ...(opts.source ? [opts.source] : [])]);
  await listener.stop();
  if (opts.expect) {
    assert.equal(sent.code, 0, `${proto} to ${externalAddr}:${externalPort}: ${sent.stdout}${sent.stderr}`);
    assert.match(sent.stdout, /reply pong/);
    const from = (opts.source ?? lab.wanGateway).replace(/\./g, '\\.');
    assert.match(listener.output(), new RegExp(`got ${proto} from ${from}:\\d+ ping`));
  } else {
    assert.notEqual(sent.code, 0, `${proto} to ${externalAddr}:${externalPort} should not get through`);
    assert.doesNotMatch(listener.output(), /got /);
  }
  return listener.output();
}
