/**
 * What WANIPConnection:2 adds: AddAnyPortMapping, GetListOfPortMappings (a PortMappingList
 * document), DeletePortMappingRange, their faults 730 and 733, and the lease range
 * 0–604800 s with a longer request clamped rather than refused.
 */
import { describeOutcome, expectFault, type RunContext } from '../context.js';
import { child, children, childText, parseXml, type XmlElement } from '../xml.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import type { HttpResponse } from '../http-client.js';
import type { Check } from './check.js';

const LIST_NS = 'urn:schemas-upnp-org:gw:WANIPConnection';
const ENTRY_FIELDS = ['NewRemoteHost', 'NewExternalPort', 'NewProtocol', 'NewInternalPort', 'NewInternalClient', 'NewEnabled', 'NewDescription', 'NewLeaseTime'];
const MAX_LEASE = 604_800;

function need(ctx: RunContext): void {
  ctx.service('wanIpConnection');
  if (!ctx.localAddress) skip('our address is unknown (needs desc.fetch)');
}

/** The out arguments of a SOAP answer read with an XML parser (values may be CDATA or escaped XML). */
function outArguments(response: HttpResponse | string): Record<string, string> {
  if (typeof response === 'string') fail(response);
  const p = parseXml(response.body.toString('utf8'));
  if (!p.ok) fail(`answer not well-formed: ${p.reason}`);
  const answer = child(p.root, 'Body')?.children[0];
  return Object.fromEntries((answer?.children ?? []).map((c) => [c.name, c.text]));
}

/** The in arguments that pick our TCP mappings of external ports first–last (NewManage 0: only the requester's). */
function range(first: number, last: number): [string, string][] {
  return [['NewStartPort', String(first)], ['NewEndPort', String(last)], ['NewProtocol', 'TCP'], ['NewManage', '0']];
}

async function list(ctx: RunContext, t: Trace, first: number, last: number): Promise<XmlElement[]> {
  const r = await ctx.soap(t, 'wanIpConnection', 'GetListOfPortMappings', [...range(first, last), ['NewNumberOfPorts', '0']]);
  if (!r.outcome.ok) fail(`GetListOfPortMappings ${first}-${last}: ${describeOutcome(r.outcome)}`);
  const text = outArguments(r.response).NewPortListing;
  expect(text !== undefined, 'no NewPortListing');
  const doc = parseXml(text.trim());
  if (!doc.ok) fail(`NewPortListing is not well-formed XML: ${doc.reason}`);
  expect(doc.root.name === 'PortMappingList' && doc.root.ns === LIST_NS, `NewPortListing root {${doc.root.ns}}${doc.root.name}, not {${LIST_NS}}PortMappingList`);
  return children(doc.root, 'PortMappingEntry');
}

export const igd2Checks: Check[] = [
  {
    info: {
      id: 'igd2.add-any', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.5.16 (AddAnyPortMapping)', versions: [2],
      title: 'AddAnyPortMapping answers NewReservedPort, a mapping of ours; a port held by another client gets another port',
    },
    async run(ctx, t) {
      need(ctx);
      const port = ctx.port();
      const a = await ctx.addMapping(t, { externalPort: port, action: 'AddAnyPortMapping' });
      if (!a.outcome.ok) fail(`AddAnyPortMapping: ${describeOutcome(a.outcome)}`);
      const reserved = Number(a.outcome.values.NewReservedPort);
      expect(Number.isInteger(reserved) && reserved > 0 && reserved < 65536, `NewReservedPort ${a.outcome.values.NewReservedPort}`);
      const got = await ctx.getSpecific(t, reserved);
      expect(got.outcome.ok && got.outcome.values.NewInternalClient === ctx.localAddress, `the reserved port ${reserved}: ${describeOutcome(got.outcome)}`);
      const held = ctx.port();
      const other = await ctx.addMapping(t, { externalPort: held, client: ctx.otherLanAddress() });
      if (!other.outcome.ok) {
        t.note = `(another client's mapping could not be made: ${describeOutcome(other.outcome)})`;
        return;
      }
      const b = await ctx.addMapping(t, { externalPort: held, action: 'AddAnyPortMapping' });
      if (!b.outcome.ok) fail(`AddAnyPortMapping of a held port: ${describeOutcome(b.outcome)}`);
      expect(Number(b.outcome.values.NewReservedPort) !== held, `AddAnyPortMapping reserved ${held}, which ${ctx.otherLanAddress()} holds`);
    },
  },
  {
    info: {
      id: 'igd2.lease-clamp', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.3.15 (PortMappingLeaseDuration)', versions: [2],
      title: 'a lease over 604800 s is accepted and reported as at most 604800 s',
    },
    async run(ctx, t) {
      need(ctx);
      const port = ctx.port();
      await ctx.addOk(t, { externalPort: port, lease: MAX_LEASE + 1000 });
      const g = await ctx.getSpecific(t, port);
      if (!g.outcome.ok) fail(`GetSpecificPortMappingEntry: ${describeOutcome(g.outcome)}`);
      const lease = Number(g.outcome.values.NewLeaseDuration);
      expect(lease > 0 && lease <= MAX_LEASE, `NewLeaseDuration ${g.outcome.values.NewLeaseDuration}`);
    },
  },
  {
    info: {
      id: 'igd2.list', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.5.20 (GetListOfPortMappings), A_ARG_TYPE_PortListing', versions: [2],
      title: 'GetListOfPortMappings answers a PortMappingList whose entries carry the eight fields, ours among them',
    },
    async run(ctx, t) {
      need(ctx);
      const port = ctx.port();
      await ctx.addOk(t, { externalPort: port, description: 'conformance list' });
      const entries = await list(ctx, t, port, port);
      expect(entries.length === 1, `${entries.length} entries for the one port ${port}`);
      for (const f of ENTRY_FIELDS) expect(child(entries[0], f), `the entry has no ${f}`);
      expect(childText(entries[0], 'NewExternalPort') === String(port) && childText(entries[0], 'NewInternalClient') === ctx.localAddress
        && childText(entries[0], 'NewDescription') === 'conformance list', 'the entry is not the mapping added');
    },
  },
  {
    info: {
      id: 'igd2.delete-range', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.5.19 (DeletePortMappingRange)', versions: [2],
      title: 'DeletePortMappingRange removes our mappings in the range',
    },
    async run(ctx, t) {
      need(ctx);
      const first = ctx.port();
      const second = ctx.port();
      for (const p of [first, second]) {
        await ctx.addOk(t, { externalPort: p });
      }
      const d = await ctx.soap(t, 'wanIpConnection', 'DeletePortMappingRange', range(first, second));
      if (!d.outcome.ok) fail(`DeletePortMappingRange ${first}-${second}: ${describeOutcome(d.outcome)}`);
      for (const p of [first, second]) expectFault((await ctx.getSpecific(t, p)).outcome, 714, `${p} after the range delete`);
    },
  },
  {
    info: {
      id: 'igd2.fault-730', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.5.19, §2.5.20', versions: [2],
      title: 'GetListOfPortMappings and DeletePortMappingRange of a range without mappings get 730 PortMappingNotFound',
    },
    async run(ctx, t) {
      need(ctx);
      const p = ctx.port();
      const l = await ctx.soap(t, 'wanIpConnection', 'GetListOfPortMappings', [...range(p, p), ['NewNumberOfPorts', '0']]);
      expectFault(l.outcome, 730, 'GetListOfPortMappings of an empty range');
      const d = await ctx.soap(t, 'wanIpConnection', 'DeletePortMappingRange', range(p, p));
      expectFault(d.outcome, 730, 'DeletePortMappingRange of an empty range');
    },
  },
  {
    info: {
      id: 'igd2.fault-733', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.5.19, §2.5.20', versions: [2],
      title: 'a range whose start is above its end gets 733 InconsistentParameters',
    },
    async run(ctx, t) {
      need(ctx);
      const p = ctx.port();
      const l = await ctx.soap(t, 'wanIpConnection', 'GetListOfPortMappings', [...range(p + 1, p), ['NewNumberOfPorts', '0']]);
      expectFault(l.outcome, 733, 'GetListOfPortMappings with start > end');
      const d = await ctx.soap(t, 'wanIpConnection', 'DeletePortMappingRange', range(p + 1, p));
      expectFault(d.outcome, 733, 'DeletePortMappingRange with start > end');
    },
  },
];

/**
 * WANIPConnection:2 §2.5.16: a full table answers 728 NoPortMapsAvailable. Runs last, as it
 * takes every port left of the run's range: it adds mappings until the device refuses one,
 * then removes them. When the range runs out first the table is larger than the range, and
 * the check is skipped (a device whose limit can be lowered, e.g. OpenIGD's
 * igd.maxMappings, can be checked with that limit under the range's size).
 */
export const tableFullCheck: Check = {
  info: {
    id: 'igd2.fault-728', group: 'igd2', severity: 'must', section: 'WANIPConnection:2 §2.5.16', versions: [2],
    title: 'AddPortMapping into a full table is refused with 728 NoPortMapsAvailable',
  },
  async run(ctx, t) {
    need(ctx);
    const made: number[] = [];
    try {
      for (;;) {
        let port: number;
        try {
          port = ctx.port();
        } catch {
          skip(`the table took all ${made.length} ports left of our range without filling up`);
        }
        const r = await ctx.addMapping(t, { externalPort: port, lease: 3600, description: 'openigd-conformance fill' });
        if (!r.outcome.ok) {
          expectFault(r.outcome, 728, `AddPortMapping after ${made.length} more mappings`);
          t.note = `full after ${made.length} more mappings: 728`;
          return;
        }
        made.push(port);
      }
    } finally {
      for (const p of made) await ctx.deleteMapping(t, p);
    }
  },
};
