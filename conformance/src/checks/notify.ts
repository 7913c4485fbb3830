/**
 * Announcements (UDA 1.0 §1.1.2-§1.1.3, UDA 1.1 §1.2): the NOTIFY ssdp:alive set a device
 * multicasts at start and again before half of its max-age has passed, its headers, and
 * ssdp:byebye when it leaves. The run listens for them alongside the other checks
 * (`prepare` starts it once the description is known) for `--notify-wait` seconds, or until
 * the whole alive set has come. Silence is a failure only when the window was long enough
 * for the device to owe an announcement: the --notify-wait the user gave (who knows the
 * device's period), or max-age / 2; otherwise the checks are skipped with the reason.
 */
import { listenNotify, type SsdpNotify } from '../ssdp-client.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import type { RunContext } from '../context.js';
import type { Check } from './check.js';

/** The window when the user gave none: short, as the run should stay short. */
const DEFAULT_WAIT_S = 5;

/** The (NT, USN) pairs the alive set must hold, from the description. */
function expectedSet(ctx: RunContext): { nt: string; usn: string }[] {
  const root = ctx.devices[0];
  if (!root) return [];
  const set = [{ nt: 'upnp:rootdevice', usn: `${root.udn}::upnp:rootdevice` }];
  for (const d of ctx.devices) set.push({ nt: d.udn, usn: d.udn }, { nt: d.deviceType, usn: `${d.udn}::${d.deviceType}` });
  for (const type of new Set(ctx.serviceTypes)) set.push({ nt: type, usn: `::${type}` });
  return set;
}

/** Whether a pair of the set is among the NOTIFYs (service USNs are matched by their end). */
function covered(pair: { nt: string; usn: string }, notifies: readonly SsdpNotify[]): boolean {
  return notifies.some((n) => n.headers.nt === pair.nt && (pair.usn.startsWith('::') ? (n.headers.usn ?? '').endsWith(pair.usn) : n.headers.usn === pair.usn));
}

/** NOTIFYs of this device (their USN names one of its UDNs), of one NTS. */
function ours(ctx: RunContext, notifies: readonly SsdpNotify[], nts: string): SsdpNotify[] {
  const udns = ctx.devices.map((d) => d.udn);
  return notifies.filter((n) => (n.headers.nts ?? '') === nts && udns.some((u) => n.headers.usn === u || (n.headers.usn ?? '').startsWith(`${u}::`)));
}

/** Starts the listening once per run. */
function startListening(ctx: RunContext, signal?: AbortSignal): void {
  if (ctx.notifies) return;
  const waitS = ctx.options.notifyWaitSeconds ?? DEFAULT_WAIT_S;
  const want = expectedSet(ctx);
  const iface = ctx.options.ssdpInterface ?? ctx.localAddress;
  ctx.notifies = listenNotify({
    waitMs: waitS * 1000, ...(ctx.options.notifyListen ? { unicast: ctx.options.notifyListen } : { interfaceAddress: iface }),
    ...(signal ? { signal } : {}),
    enough: (got) => want.length > 0 && want.every((p) => covered(p, ours(ctx, got, 'ssdp:alive'))),
  }).catch((e: Error) => ({ notifies: [], listenedMs: 0, error: `cannot listen for NOTIFY: ${e.message}` }));
}

/** What the window brought; skips when listening failed. */
async function heard(ctx: RunContext, t: Trace, nts: string): Promise<{ notifies: SsdpNotify[]; listenedMs: number }> {
  if (!ctx.notifies || ctx.devices.length === 0) skip('needs desc.device-tree');
  const r = await ctx.notifies;
  if ('error' in r && r.error) skip(r.error);
  const mine = ours(ctx, r.notifies, nts);
  t.record(`listened for NOTIFY ${nts} for ${(r.listenedMs / 1000).toFixed(1)} s`,
    mine.length ? mine.slice(0, 12).map((n) => `from ${n.from} after ${n.afterMs} ms\n${n.raw.trim()}`).join('\n\n') + (mine.length > 12 ? `\n… ${mine.length} in all` : '') : '(none)');
  return { notifies: mine, listenedMs: r.listenedMs };
}

/**
 * The alive NOTIFYs of the window. When there are none, ssdp.notify-alive (`judge`) fails
 * or skips as the window allows; the checks of their contents skip.
 */
async function alive(ctx: RunContext, t: Trace, judge = false): Promise<SsdpNotify[]> {
  const { notifies, listenedMs } = await heard(ctx, t, 'ssdp:alive');
  if (notifies.length > 0) return notifies;
  if (!judge) skip('no ssdp:alive heard (see ssdp.notify-alive)');
  const answers = ctx.ssdp ? Object.values(await ctx.ssdp).flatMap((s) => s.answers) : [];
  const maxAge = Math.max(0, ...answers.map((a) => Number(/max-age\s*=\s*(\d+)/i.exec(a.headers['cache-control'] ?? '')?.[1] ?? 0)));
  const s = (listenedMs / 1000).toFixed(1);
  if (ctx.options.notifyWaitSeconds !== undefined) fail(`no ssdp:alive in the ${s} s given by --notify-wait`);
  if (maxAge > 0 && listenedMs >= (maxAge * 1000) / 2) fail(`no ssdp:alive in ${s} s, while max-age=${maxAge} wants one every ${maxAge / 2} s at most`);
  skip(`no ssdp:alive in ${s} s; the device may wait up to max-age / 2${maxAge ? ` (${maxAge / 2} s)` : ''}: give --notify-wait with its announce period`);
}

const SERVER = /\bUPnP\/(1\.[01]|2\.0)\b/;

/** The headers every NOTIFY carries (UDA 1.1 §1.2.2 and §1.2.3). */
function commonHeaders(n: SsdpNotify, nts: string): void {
  const h = n.headers;
  const what = `NOTIFY ${nts} NT ${h.nt ?? '(none)'}`;
  expect(n.requestLine === 'NOTIFY * HTTP/1.1', `${what}: request line ${JSON.stringify(n.requestLine)}`);
  expect(h.host === '239.255.255.250:1900', `${what}: HOST ${JSON.stringify(h.host ?? null)}`);
  expect(h.nt && h.usn, `${what}: NT or USN missing`);
  expect(h.nts === nts, `${what}: NTS ${JSON.stringify(h.nts ?? null)}`);
}

function expectBootId(n: SsdpNotify): void {
  for (const k of ['bootid.upnp.org', 'configid.upnp.org']) {
    expect(/^\d+$/.test(n.headers[k] ?? ''), `NOTIFY NT ${n.headers.nt}: ${k.toUpperCase()} ${JSON.stringify(n.headers[k] ?? null)}`);
  }
}

export const notifyChecks: Check[] = [
  {
    info: { id: 'ssdp.notify-alive', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.1.2; UDA 1.1 §1.2.2', title: 'the device multicasts NOTIFY ssdp:alive (again within max-age / 2)' },
    prepare: startListening,
    async run(ctx, t) {
      const got = await alive(ctx, t, true);
      t.note = `${got.length} ssdp:alive, the first after ${got[0]!.afterMs} ms`;
    },
  },
  {
    info: {
      id: 'ssdp.notify-headers', group: 'ssdp', severity: 'must', section: 'UDA 1.1 §1.2.2',
      title: 'every ssdp:alive: NOTIFY * HTTP/1.1, HOST 239.255.255.250:1900, CACHE-CONTROL max-age=N, LOCATION of the description, NT, NTS, SERVER, USN',
    },
    prepare: startListening,
    async run(ctx, t) {
      for (const n of await alive(ctx, t)) {
        commonHeaders(n, 'ssdp:alive');
        const h = n.headers;
        const what = `ssdp:alive NT ${h.nt}`;
        expect(/^max-age\s*=\s*\d+$/i.test(h['cache-control'] ?? ''), `${what}: CACHE-CONTROL ${JSON.stringify(h['cache-control'] ?? null)}`);
        let same = false;
        try {
          same = new URL(h.location ?? '').href === new URL(ctx.options.url).href;
        } catch { /* not a URL: reported below */ }
        expect(same, `${what}: LOCATION ${JSON.stringify(h.location ?? null)}, the description is at ${ctx.options.url}`);
        expect(SERVER.test(h.server ?? '') && (h.server ?? '').trim().split(/\s+/).length >= 3, `${what}: SERVER ${JSON.stringify(h.server ?? null)}`);
      }
    },
  },
  {
    info: { id: 'ssdp.notify-bootid', group: 'ssdp', severity: 'must', section: 'UDA 1.1 §1.2.2', title: 'a UPnP/1.1 device\'s ssdp:alive carries BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG' },
    prepare: startListening,
    async run(ctx, t) {
      const got = await alive(ctx, t);
      if (!got.some((n) => /\bUPnP\/(1\.1|2\.0)\b/.test(n.headers.server ?? ''))) skip('the device says UPnP/1.0 (BOOTID is UDA 1.1)');
      for (const n of got) expectBootId(n);
    },
  },
  {
    info: {
      id: 'ssdp.notify-set', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.1.2',
      title: 'the alive set: upnp:rootdevice, and for every device its UDN and type, and every service type, each with its USN',
    },
    prepare: startListening,
    async run(ctx, t) {
      const got = await alive(ctx, t);
      const missing = expectedSet(ctx).filter((p) => !covered(p, got));
      expect(missing.length === 0, `not announced: ${missing.map((p) => `NT ${p.nt} USN ${p.usn.startsWith('::') ? `<UDN>${p.usn}` : p.usn}`).join('; ')}`);
    },
  },
  {
    info: {
      id: 'ssdp.notify-byebye', group: 'ssdp', severity: 'interop', section: 'UDA 1.0 §1.1.3; UDA 1.1 §1.2.3',
      title: 'an ssdp:byebye seen in the window has HOST, NT, NTS ssdp:byebye, USN (and BOOTID/CONFIGID for UPnP/1.1)',
    },
    prepare: startListening,
    async run(ctx, t) {
      const { notifies, listenedMs } = await heard(ctx, t, 'ssdp:byebye');
      if (notifies.length === 0) skip(`no ssdp:byebye in ${(listenedMs / 1000).toFixed(1)} s (one is sent only when the device leaves)`);
      const v11 = ours(ctx, (await ctx.notifies!).notifies, 'ssdp:alive').some((n) => /\bUPnP\/(1\.1|2\.0)\b/.test(n.headers.server ?? ''));
      for (const n of notifies) {
        commonHeaders(n, 'ssdp:byebye');
        if (v11) expectBootId(n);
      }
    },
  },
];
