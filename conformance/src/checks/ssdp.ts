/**
 * Discovery (UDA 1.0 §1.2.3, UDA 1.1 §1.3): M-SEARCH answers for every search target the
 * device must answer (upnp:rootdevice, ssdp:all, its UDNs, device and service types, a
 * lower version of its type), their headers and formats, MX, and silence for a target it
 * does not have. All searches of a run go out at once, each from a socket of its own, and
 * are answered to that socket (unicast to the asker).
 */
import { mSearch, type SsdpAnswer } from '../ssdp-client.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import type { RunContext } from '../context.js';
import type { Check } from './check.js';

const MX = 1;
/** Slack on top of MX for the answers' way back. */
const SLACK_MS = 400;
const UNKNOWN_ST = 'urn:schemas-upnp-org:device:OpenIgdConformanceNoSuchDevice:1';

interface Search { readonly sent: string; readonly answers: SsdpAnswer[] }

function targets(ctx: RunContext): Record<string, string> {
  const root = ctx.devices[0];
  const ip = ctx.services.get('wanIpConnection');
  if (!root || !ip) skip('needs desc.device-tree');
  return {
    rootdevice: 'upnp:rootdevice', all: 'ssdp:all', uuid: root.udn, deviceType: root.deviceType, serviceType: ip.serviceType,
    lower: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1', unknown: UNKNOWN_ST,
  };
}

/** Every search of the run, sent together on first use. */
async function searches(ctx: RunContext): Promise<Record<string, Search>> {
  const want = targets(ctx);
  ctx.ssdp ??= (async () => {
    const entries = await Promise.all(Object.entries(want).map(async ([k, st]) => [k, await mSearch({
      target: ctx.options.ssdpTarget, st, mx: MX, waitMs: MX * 1000 + 1000,
      ...(ctx.options.ssdpInterface ? { interfaceAddress: ctx.options.ssdpInterface } : {}),
    })] as const));
    return Object.fromEntries(entries);
  })();
  return ctx.ssdp;
}

function record(t: Trace, s: Search): void {
  t.record(s.sent.trim(), s.answers.length ? s.answers.map((a) => `from ${a.from}:${a.fromPort} after ${a.afterMs} ms\n${a.raw.trim()}`).join('\n\n') : '(no answer)');
}

/** The answers of one search, at least one; fails otherwise. */
async function answersTo(ctx: RunContext, t: Trace, key: string): Promise<SsdpAnswer[]> {
  const s = (await searches(ctx))[key]!;
  record(t, s);
  expect(s.answers.length > 0, `no answer to ST ${targets(ctx)[key]}`);
  return s.answers;
}

/** Fails unless some answer has exactly this ST and USN. */
function expectAnswer(answers: SsdpAnswer[], st: string, usn: string): void {
  const hit = answers.find((a) => a.headers.st === st && a.headers.usn === usn);
  if (!hit) fail(`no answer with ST ${st} and USN ${usn}; got ${answers.map((a) => `ST ${a.headers.st} USN ${a.headers.usn}`).join('; ')}`);
}

export const ssdpChecks: Check[] = [
  {
    info: { id: 'ssdp.rootdevice', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3', title: 'ST upnp:rootdevice is answered with USN <UDN>::upnp:rootdevice and the description\'s LOCATION' },
    async run(ctx, t) {
      const answers = await answersTo(ctx, t, 'rootdevice');
      const udn = ctx.devices[0]!.udn;
      expectAnswer(answers, 'upnp:rootdevice', `${udn}::upnp:rootdevice`);
      const location = answers[0]!.headers.location ?? '';
      let same = false;
      try {
        same = new URL(location).href === new URL(ctx.options.url).href;
      } catch { /* not a URL: reported below */ }
      expect(same, `LOCATION ${JSON.stringify(location)}, the description is at ${ctx.options.url}`);
    },
  },
  {
    info: {
      id: 'ssdp.all', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3',
      title: 'ST ssdp:all is answered for the root, every UDN, every device type and every service type',
    },
    async run(ctx, t) {
      const answers = await answersTo(ctx, t, 'all');
      const root = ctx.devices[0]!.udn;
      expectAnswer(answers, 'upnp:rootdevice', `${root}::upnp:rootdevice`);
      for (const d of ctx.devices) {
        expectAnswer(answers, d.udn, d.udn);
        expectAnswer(answers, d.deviceType, `${d.udn}::${d.deviceType}`);
      }
      for (const type of ctx.serviceTypes) {
        expect(answers.some((a) => a.headers.st === type && (a.headers.usn ?? '').endsWith(`::${type}`)), `no answer for service type ${type}`);
      }
    },
  },
  {
    info: { id: 'ssdp.device-type', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3', title: 'ST <root device type> is answered with that ST and USN <UDN>::<type>' },
    async run(ctx, t) {
      const root = ctx.devices[0];
      expectAnswer(await answersTo(ctx, t, 'deviceType'), root!.deviceType, `${root!.udn}::${root!.deviceType}`);
    },
  },
  {
    info: { id: 'ssdp.service-type', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3', title: 'ST <WANIPConnection type> is answered with that ST and USN <device UDN>::<type>' },
    async run(ctx, t) {
      const type = ctx.service('wanIpConnection').serviceType;
      const conn = ctx.devices[2];
      expectAnswer(await answersTo(ctx, t, 'serviceType'), type, `${conn?.udn}::${type}`);
    },
  },
  {
    info: { id: 'ssdp.uuid', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3', title: 'ST uuid:<root UDN> is answered with ST and USN equal to the UDN' },
    async run(ctx, t) {
      const udn = ctx.devices[0]?.udn ?? '';
      expectAnswer(await answersTo(ctx, t, 'uuid'), udn, udn);
    },
  },
  {
    info: {
      id: 'ssdp.headers', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3; UDA 1.1 §1.3.3',
      title: 'every answer: HTTP/1.1 200 OK, CACHE-CONTROL max-age=N, EXT, an absolute LOCATION, SERVER "OS/v UPnP/1.x product/v", ST, USN',
    },
    async run(ctx, t) {
      const answers = await answersTo(ctx, t, 'all');
      for (const a of answers) {
        const h = a.headers;
        const what = `answer with ST ${h.st}`;
        expect(/^HTTP\/1\.1 200 OK$/i.test(a.statusLine), `${what}: status line ${JSON.stringify(a.statusLine)}`);
        expect(/^max-age\s*=\s*\d+$/i.test(h['cache-control'] ?? ''), `${what}: CACHE-CONTROL ${JSON.stringify(h['cache-control'] ?? null)}`);
        expect('ext' in h, `${what}: no EXT header`);
        expect(/^http:\/\/\S+$/.test(h.location ?? ''), `${what}: LOCATION ${JSON.stringify(h.location ?? null)}`);
        expect(/\bUPnP\/(1\.[01]|2\.0)\b/.test(h.server ?? '') && (h.server ?? '').trim().split(/\s+/).length >= 3, `${what}: SERVER ${JSON.stringify(h.server ?? null)}`);
        expect(h.st && h.usn, `${what}: ST or USN missing`);
      }
    },
  },
  {
    info: { id: 'ssdp.max-age', group: 'ssdp', severity: 'should', section: 'UDA 1.1 §1.2.2', title: 'CACHE-CONTROL max-age is at least 1800 s' },
    async run(ctx, t) {
      for (const a of await answersTo(ctx, t, 'rootdevice')) {
        const age = Number(/max-age\s*=\s*(\d+)/i.exec(a.headers['cache-control'] ?? '')?.[1]);
        expect(age >= 1800, `max-age ${a.headers['cache-control']}`);
      }
    },
  },
  {
    info: {
      id: 'ssdp.bootid', group: 'ssdp', severity: 'must', section: 'UDA 1.1 §1.3.3',
      title: 'a UPnP/1.1 device answers with BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG (non-negative integers)',
    },
    async run(ctx, t) {
      const answers = await answersTo(ctx, t, 'rootdevice');
      if (!answers.some((a) => /\bUPnP\/(1\.1|2\.0)\b/.test(a.headers.server ?? ''))) skip('the device says UPnP/1.0 (BOOTID is UDA 1.1)');
      for (const a of answers) {
        expect(/^\d+$/.test(a.headers['bootid.upnp.org'] ?? ''), `BOOTID.UPNP.ORG ${JSON.stringify(a.headers['bootid.upnp.org'] ?? null)}`);
        expect(/^\d+$/.test(a.headers['configid.upnp.org'] ?? ''), `CONFIGID.UPNP.ORG ${JSON.stringify(a.headers['configid.upnp.org'] ?? null)}`);
      }
    },
  },
  {
    info: { id: 'ssdp.mx', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3', title: `every answer to MX: ${MX} comes within ${MX} s` },
    async run(ctx, t) {
      for (const a of await answersTo(ctx, t, 'all')) expect(a.afterMs <= MX * 1000 + SLACK_MS, `an answer (ST ${a.headers.st}) came after ${a.afterMs} ms`);
    },
  },
  {
    info: {
      id: 'ssdp.lower-version', group: 'ssdp', severity: 'should', section: 'UDA 1.1 §1.3.2', versions: [2],
      title: 'an IGD:2 answers ST InternetGatewayDevice:1 with ST InternetGatewayDevice:1',
    },
    async run(ctx, t) {
      const st = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
      const answers = await answersTo(ctx, t, 'lower');
      expect(answers.some((a) => a.headers.st === st), `answered with ST ${answers.map((a) => a.headers.st).join(', ')}`);
    },
  },
  {
    info: { id: 'ssdp.unknown-st', group: 'ssdp', severity: 'must', section: 'UDA 1.0 §1.2.3', title: 'a search target the device does not have gets no answer' },
    async run(ctx, t) {
      const s = (await searches(ctx)).unknown!;
      record(t, s);
      expect(s.answers.length === 0, `${s.answers.length} answers to ST ${UNKNOWN_ST}`);
    },
  },
];
