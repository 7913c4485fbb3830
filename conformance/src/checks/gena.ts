/**
 * Eventing (UDA 1.0 §4, and the CallStranger amendment of UDA 2.0 §4.1.2 of April 2020):
 * SUBSCRIBE with its SID and TIMEOUT, the initial event with every evented variable and
 * SEQ 0, an event on change, renewal, UNSUBSCRIBE, the 412 / 400 refusals, and a CALLBACK
 * to a host outside the subscriber's network refused. The run listens for NOTIFY on an
 * HTTP server of its own, on the address the device sees it by.
 */
import { serviceDeclaration } from '@openigd/igd-service/declaration';
import { httpExchange, httpRequestBytes, type HttpResponse } from '../http-client.js';
import { children, parseXml } from '../xml.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import type { FoundService, RunContext } from '../context.js';
import type { Check } from './check.js';

const EVENT_NS = 'urn:schemas-upnp-org:event-1-0';
/** A host outside any LAN the device serves (TEST-NET-2). */
const STRANGER = '198.51.100.99';

/** One GENA request to the service's event URL. */
async function gena(ctx: RunContext, t: Trace, s: FoundService, method: string, headers: [string, string][]): Promise<HttpResponse> {
  const url = new URL(s.eventUrl);
  const req = httpRequestBytes(method, `${url.pathname}${url.search}`, [['HOST', url.host], ...headers, ['CONTENT-LENGTH', '0'], ['CONNECTION', 'close']]);
  const r = await httpExchange(url, req, ctx.options.timeoutMs);
  t.record(req.toString('latin1').trim(), typeof r === 'string' ? r : r.head);
  if (typeof r === 'string') fail(`${method}: ${r}`);
  return r;
}

function ip(ctx: RunContext): FoundService {
  const s = ctx.service('wanIpConnection');
  if (!ctx.localAddress) skip('our address is unknown');
  return s;
}

function needSid(ctx: RunContext): string {
  if (!ctx.sid) skip('needs gena.subscribe');
  return ctx.sid;
}

async function subscribe(ctx: RunContext, t: Trace, callback: string, extra: [string, string][] = []): Promise<HttpResponse> {
  return gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['CALLBACK', `<${callback}>`], ['NT', 'upnp:event'], ['TIMEOUT', 'Second-300'], ...extra]);
}

/** The variables a property set holds, or a failure. */
function propertyNames(body: string): string[] {
  const p = parseXml(body);
  if (!p.ok) fail(`NOTIFY body not well-formed: ${p.reason}`);
  expect(p.root.name === 'propertyset' && p.root.ns === EVENT_NS, `NOTIFY body root {${p.root.ns}}${p.root.name}`);
  return children(p.root, 'property').flatMap((prop) => {
    expect(prop.ns === EVENT_NS, 'e:property outside the event-1-0 namespace');
    return prop.children.map((c) => c.name);
  });
}

export const genaChecks: Check[] = [
  {
    info: { id: 'gena.subscribe', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.1.1', title: 'SUBSCRIBE answers 200 with SID uuid:… and TIMEOUT Second-N' },
    async run(ctx, t) {
      ip(ctx);
      const callback = await ctx.events.start(ctx.localAddress);
      const r = await subscribe(ctx, t, callback);
      expect(r.status === 200, `status ${r.status}`);
      const sid = r.headers.sid ?? '';
      expect(/^uuid:\S+$/.test(sid), `SID ${JSON.stringify(sid)}`);
      expect(/^Second-(\d+|infinite)$/i.test(r.headers.timeout ?? ''), `TIMEOUT ${JSON.stringify(r.headers.timeout)}`);
      ctx.sid = sid;
    },
  },
  {
    info: {
      id: 'gena.initial-event', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.2',
      title: 'the initial NOTIFY comes with NT, NTS, SID, SEQ 0 and every evented variable in an e:propertyset',
    },
    async run(ctx, t) {
      const sid = needSid(ctx);
      const n = await ctx.events.wait(sid, 0, ctx.options.timeoutMs);
      t.record(`(wait for NOTIFY SEQ 0 of ${sid})`, n ? `${n.method} ${JSON.stringify(n.headers)}\n${n.body}` : 'none');
      if (!n) fail(`no NOTIFY with SEQ 0 within ${ctx.options.timeoutMs} ms`);
      expect(n.method === 'NOTIFY', `method ${n.method}`);
      expect(n.headers.nt === 'upnp:event' && n.headers.nts === 'upnp:propchange', `NT ${n.headers.nt} NTS ${n.headers.nts}`);
      expect(/^text\/xml\b/i.test(n.headers['content-type'] ?? ''), `Content-Type ${n.headers['content-type']}`);
      const names = propertyNames(n.body);
      const s = ip(ctx);
      const evented = serviceDeclaration('wanIpConnection', s.version >= 2 ? 2 : 1).stateVariables.filter((v) => v.sendEvents).map((v) => v.name);
      for (const v of evented) expect(names.includes(v), `the initial event lacks ${v} (has ${names.join(', ')})`);
    },
  },
  {
    info: {
      id: 'gena.event-on-change', group: 'gena', severity: 'should', section: 'UDA 1.0 §4.2; WANIPConnection:1 §2.2.18',
      title: 'adding a mapping sends a NOTIFY with SEQ 1 carrying PortMappingNumberOfEntries (or SystemUpdateID, IGD:2)',
    },
    async run(ctx, t) {
      const sid = needSid(ctx);
      await ctx.addOk(t, { externalPort: ctx.port() });
      const n = await ctx.events.wait(sid, 1, ctx.options.timeoutMs + 2000);
      t.record(`(wait for NOTIFY SEQ 1 of ${sid})`, n ? `${JSON.stringify(n.headers)}\n${n.body}` : 'none');
      if (!n) fail('no NOTIFY with SEQ 1 after a mapping was added');
      const names = propertyNames(n.body);
      expect(names.includes('PortMappingNumberOfEntries') || names.includes('SystemUpdateID'), `the event holds ${names.join(', ')}`);
    },
  },
  {
    info: { id: 'gena.renew', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.1.2', title: 'SUBSCRIBE with SID and TIMEOUT renews: 200 with the same SID' },
    async run(ctx, t) {
      const sid = needSid(ctx);
      const r = await gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['SID', sid], ['TIMEOUT', 'Second-300']]);
      expect(r.status === 200, `status ${r.status}`);
      expect(r.headers.sid === sid, `SID ${r.headers.sid}, subscribed as ${sid}`);
      expect(/^Second-(\d+|infinite)$/i.test(r.headers.timeout ?? ''), `TIMEOUT ${JSON.stringify(r.headers.timeout)}`);
    },
  },
  {
    info: { id: 'gena.renew-unknown', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.1.2', title: 'renewing an unknown SID gets 412 Precondition Failed' },
    async run(ctx, t) {
      const r = await gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['SID', 'uuid:00000000-0000-4000-8000-0000c0ffee00'], ['TIMEOUT', 'Second-300']]);
      expect(r.status === 412, `status ${r.status}`);
    },
  },
  {
    info: { id: 'gena.bad-nt', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.1.1', title: 'SUBSCRIBE with an NT other than upnp:event gets 412' },
    async run(ctx, t) {
      ip(ctx);
      const callback = await ctx.events.start(ctx.localAddress);
      const r = await gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['CALLBACK', `<${callback}>`], ['NT', 'upnp:conformance'], ['TIMEOUT', 'Second-300']]);
      if (r.status === 200 && r.headers.sid) await gena(ctx, t, ip(ctx), 'UNSUBSCRIBE', [['SID', r.headers.sid]]);
      expect(r.status === 412, `status ${r.status}`);
    },
  },
  {
    info: { id: 'gena.no-callback', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.1.1', title: 'SUBSCRIBE without CALLBACK gets 412' },
    async run(ctx, t) {
      const r = await gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['NT', 'upnp:event'], ['TIMEOUT', 'Second-300']]);
      if (r.status === 200 && r.headers.sid) await gena(ctx, t, ip(ctx), 'UNSUBSCRIBE', [['SID', r.headers.sid]]);
      expect(r.status === 412, `status ${r.status}`);
    },
  },
  {
    info: { id: 'gena.sid-with-nt', group: 'gena', severity: 'should', section: 'UDA 1.0 §4.1.2', title: 'a renewal that also carries NT (or CALLBACK) gets 400 Bad Request' },
    async run(ctx, t) {
      const sid = needSid(ctx);
      const r = await gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['SID', sid], ['NT', 'upnp:event'], ['TIMEOUT', 'Second-300']]);
      expect(r.status === 400, `status ${r.status}`);
    },
  },
  {
    info: {
      id: 'gena.callstranger', group: 'gena', severity: 'must', section: 'UDA 2.0 §4.1.2 (2020-04 amendment, CVE-2020-12695)',
      title: `a CALLBACK to a host outside the subscriber's network (${STRANGER}) is refused`,
    },
    async run(ctx, t) {
      ip(ctx);
      const r = await subscribe(ctx, t, `http://${STRANGER}:80/conformance`);
      if (r.status === 200 && r.headers.sid) await gena(ctx, t, ip(ctx), 'UNSUBSCRIBE', [['SID', r.headers.sid]]);
      expect(r.status !== 200, `SUBSCRIBE with a callback to ${STRANGER} was accepted (SID ${r.headers.sid})`);
      expect(r.status >= 400 && r.status < 600, `status ${r.status}`);
    },
  },
  {
    info: { id: 'gena.unsubscribe', group: 'gena', severity: 'must', section: 'UDA 1.0 §4.1.3', title: 'UNSUBSCRIBE answers 200, and the SID is gone afterwards (412)' },
    async run(ctx, t) {
      const sid = needSid(ctx);
      const r = await gena(ctx, t, ip(ctx), 'UNSUBSCRIBE', [['SID', sid]]);
      expect(r.status === 200, `status ${r.status}`);
      ctx.sid = undefined;
      const again = await gena(ctx, t, ip(ctx), 'SUBSCRIBE', [['SID', sid], ['TIMEOUT', 'Second-300']]);
      expect(again.status === 412, `renewing the unsubscribed SID: status ${again.status}`);
    },
  },
];
