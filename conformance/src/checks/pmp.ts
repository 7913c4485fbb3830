/**
 * NAT-PMP (RFC 6886) and PCP (RFC 6887) on port 5351, where the device answers: the
 * external address, mapping and deleting, the result codes for what a server must refuse,
 * the epoch, and that a port PCP holds is not handed to another client over UPnP.
 */
import { randomBytes } from 'node:crypto';
import { decodeNatPmpResponse, natPmpAddressRequest, natPmpMapRequest } from '../natpmp-client.js';
import { PCP, decodeClientResponse, encodeClientRequest, type ClientResponse } from '../pcp-client.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import { describeOutcome, faultCode, type RunContext } from '../context.js';
import type { Check } from './check.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function natpmpUp(ctx: RunContext, t: Trace): Promise<void> {
  if (!ctx.localAddress) skip('our address is unknown');
  ctx.natpmpAnswers ??= ctx.pmpAsk(t, 'NAT-PMP external address', natPmpAddressRequest()).then((a) => a !== undefined && typeof decodeNatPmpResponse(a) !== 'string');
  if (!(await ctx.natpmpAnswers)) skip(`no NAT-PMP answer from ${ctx.pmpTarget.address}:${ctx.pmpTarget.port}`);
}

export async function pcpUp(ctx: RunContext, t: Trace): Promise<void> {
  if (!ctx.localAddress) skip('our address is unknown');
  ctx.pcpAnswers ??= ctx.pmpAsk(t, 'PCP ANNOUNCE', encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: ctx.localAddress }))
    .then((a) => {
      try {
        return a !== undefined && decodeClientResponse(a).version === PCP.version;
      } catch {
        return false;
      }
    });
  if (!(await ctx.pcpAnswers)) skip(`no PCP answer from ${ctx.pmpTarget.address}:${ctx.pmpTarget.port}`);
}

function expectPcp(r: ClientResponse, opcode: number, result: number, what: string): void {
  expect(r.opcode === opcode, `${what}: opcode ${r.opcode} in the answer, asked ${opcode}`);
  expect(r.result === result, `${what}: result ${r.resultText} (${r.result}), expected ${Object.entries(PCP.result).find(([, v]) => v === result)?.[0]}`);
}

/** A PCP MAP's bytes with the given overrides of the header. */
function mapPacket(ctx: RunContext, internalPort: number, opts: { version?: number; opcode?: number; clientIp?: string; options?: Parameters<typeof encodeClientRequest>[0]['options'] } = {}): Buffer {
  const b = encodeClientRequest({
    opcode: 'map', lifetime: 60, clientIp: opts.clientIp ?? ctx.localAddress,
    map: { nonce: randomBytes(12), protocol: 6, internalPort, externalPort: internalPort, externalIp: '' }, ...(opts.options ? { options: opts.options } : {}),
  });
  if (opts.version !== undefined) b[0] = opts.version;
  if (opts.opcode !== undefined) b[1] = opts.opcode;
  return b;
}

export const natpmpChecks: Check[] = [
  {
    info: { id: 'natpmp.external-address', group: 'natpmp', severity: 'must', section: 'RFC 6886 §3.2', title: 'opcode 0 answers version 0, opcode 128, result 0 and the external address' },
    async run(ctx, t) {
      await natpmpUp(ctx, t);
      const r = await ctx.natpmp(t, 'external address', natPmpAddressRequest());
      expect(r.version === 0 && r.opcode === 0 && r.result === 0, `version ${r.version} opcode ${r.opcode} result ${r.result}`);
      expect(r.length === 12, `${r.length}-octet answer`);
      if (ctx.externalAddress) expect(r.externalAddress === ctx.externalAddress, `${r.externalAddress}, UPnP says ${ctx.externalAddress}`);
    },
  },
  {
    info: { id: 'natpmp.map', group: 'natpmp', severity: 'must', section: 'RFC 6886 §3.3', title: 'a TCP mapping request answers result 0, our internal port, an external port and a lifetime' },
    async run(ctx, t) {
      await natpmpUp(ctx, t);
      const port = ctx.port();
      const r = await ctx.natpmpMap(t, 2, port, port, 120);
      expect(r.opcode === 2 && r.result === 0, `opcode ${r.opcode} result ${r.result}`);
      expect(r.length === 16, `${r.length}-octet answer`);
      expect(r.internalPort === port, `internal port ${r.internalPort}, asked ${port}`);
      expect((r.externalPort ?? 0) > 0, 'external port 0');
      expect((r.lifetime ?? 0) > 0, 'lifetime 0');
    },
  },
  {
    info: { id: 'natpmp.delete', group: 'natpmp', severity: 'must', section: 'RFC 6886 §3.4', title: 'a request with lifetime 0 deletes the mapping: result 0, lifetime 0' },
    async run(ctx, t) {
      await natpmpUp(ctx, t);
      const port = ctx.port();
      const m = await ctx.natpmpMap(t, 1, port, port, 120);
      expect(m.result === 0, `the mapping: result ${m.result}`);
      const d = await ctx.natpmpMap(t, 1, port, 0, 0);
      expect(d.result === 0 && d.lifetime === 0, `delete: result ${d.result} lifetime ${d.lifetime}`);
    },
  },
  {
    info: { id: 'natpmp.unsupported-opcode', group: 'natpmp', severity: 'must', section: 'RFC 6886 §3.5', title: 'an unknown opcode is answered with opcode+128 and result 5 (Unsupported opcode)' },
    async run(ctx, t) {
      await natpmpUp(ctx, t);
      const r = await ctx.natpmp(t, 'opcode 99', natPmpMapRequest(99, 1, 1, 0));
      expect(r.opcode === 99 && r.result === 5, `opcode ${r.opcode} result ${r.result}`);
    },
  },
  {
    info: { id: 'natpmp.unsupported-version', group: 'natpmp', severity: 'must', section: 'RFC 6886 §3.5; RFC 6887 §9', title: 'a request of version 1 is answered "unsupported version" (NAT-PMP result 1, or PCP UNSUPP_VERSION)' },
    async run(ctx, t) {
      await natpmpUp(ctx, t);
      const a = await ctx.pmpAsk(t, 'version 1', natPmpAddressRequest(1));
      if (!a) fail('no answer to a version 1 request');
      const n = decodeNatPmpResponse(a);
      if (typeof n !== 'string' && a[0] === 0) {
        expect(n.result === 1, `NAT-PMP result ${n.result}`);
        return;
      }
      expect(a.length >= 4 && a[3] === PCP.result.UNSUPP_VERSION, `answer ${a.toString('hex')}`);
    },
  },
  {
    info: { id: 'natpmp.epoch', group: 'natpmp', severity: 'must', section: 'RFC 6886 §3.6', title: 'the seconds since start of epoch advance with time' },
    async run(ctx, t) {
      await natpmpUp(ctx, t);
      const a = await ctx.natpmp(t, 'external address', natPmpAddressRequest());
      const started = Date.now();
      await sleep(2100);
      const b = await ctx.natpmp(t, 'external address again', natPmpAddressRequest());
      const elapsed = (Date.now() - started) / 1000;
      const advanced = b.epoch - a.epoch;
      expect(advanced >= elapsed - 1.5 && advanced <= elapsed + 1.5, `epoch advanced ${advanced} s in ${elapsed.toFixed(1)} s`);
    },
  },
];

export const pcpChecks: Check[] = [
  {
    info: { id: 'pcp.announce', group: 'pcp', severity: 'must', section: 'RFC 6887 §14.1', title: 'ANNOUNCE answers version 2, the R bit, opcode 0, SUCCESS' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const r = await ctx.pcp(t, 'ANNOUNCE', encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: ctx.localAddress }));
      expect(r.version === 2, `version ${r.version}`);
      expectPcp(r, PCP.opcode.announce, PCP.result.SUCCESS, 'ANNOUNCE');
    },
  },
  {
    info: {
      id: 'pcp.map', group: 'pcp', severity: 'must', section: 'RFC 6887 §11.4, §11.5',
      title: 'MAP answers SUCCESS, echoes nonce, protocol and internal port, and assigns the external address and a port',
    },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const port = ctx.port();
      const nonce = randomBytes(12);
      const r = await ctx.pcpMap(t, port, 120, { nonce });
      expectPcp(r, PCP.opcode.map, PCP.result.SUCCESS, 'MAP');
      expect(r.map && Buffer.from(r.map.nonce).equals(nonce), 'nonce not echoed');
      expect(r.map.protocol === 6 && r.map.internalPort === port, `protocol ${r.map.protocol} internal port ${r.map.internalPort}`);
      expect(r.map.externalPort > 0, 'external port 0');
      if (ctx.externalAddress) expect(r.map.externalIp === ctx.externalAddress, `external address ${r.map.externalIp}, UPnP says ${ctx.externalAddress}`);
      expect(r.lifetime > 0 && r.lifetime <= 120 * 24, `lifetime ${r.lifetime}`);
      ctx.pcpMapping = { nonce, port, externalPort: r.map.externalPort };
    },
  },
  {
    info: {
      id: 'pcp.upnp-conflict', group: 'pcp', severity: 'must', section: 'WANIPConnection:1 §2.4.16; WANIPConnection:2 §2.5.16 (729)',
      title: 'UPnP AddPortMapping of an external port PCP holds, for another client, is refused (718, or 729 in IGD:2)',
    },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      if (!ctx.pcpMapping) skip('needs pcp.map');
      ctx.service('wanIpConnection');
      const r = await ctx.addMapping(t, { externalPort: ctx.pcpMapping.externalPort, client: ctx.otherLanAddress() });
      const allowed = ctx.version === 2 ? [718, 729, 606] : [718];
      expect(!r.outcome.ok, `the port PCP holds was given to ${ctx.otherLanAddress()}`);
      expect(allowed.includes(faultCode(r.outcome) ?? 0), `answer ${describeOutcome(r.outcome)}, expected ${allowed.join(' or ')}`);
    },
  },
  {
    info: { id: 'pcp.nonce', group: 'pcp', severity: 'must', section: 'RFC 6887 §11.3', title: 'a MAP of an existing mapping with another nonce gets NOT_AUTHORIZED' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      if (!ctx.pcpMapping) skip('needs pcp.map');
      const r = await ctx.pcp(t, 'MAP, wrong nonce', encodeClientRequest({
        opcode: 'map', lifetime: 0, clientIp: ctx.localAddress,
        map: { nonce: randomBytes(12), protocol: 6, internalPort: ctx.pcpMapping.port, externalPort: 0, externalIp: '' },
      }));
      expectPcp(r, PCP.opcode.map, PCP.result.NOT_AUTHORIZED, 'MAP with another nonce');
    },
  },
  {
    info: { id: 'pcp.delete', group: 'pcp', severity: 'must', section: 'RFC 6887 §15', title: 'MAP with lifetime 0 and the same nonce deletes: SUCCESS, lifetime 0' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      if (!ctx.pcpMapping) skip('needs pcp.map');
      const r = await ctx.pcpMap(t, ctx.pcpMapping.port, 0, { nonce: ctx.pcpMapping.nonce });
      expectPcp(r, PCP.opcode.map, PCP.result.SUCCESS, 'MAP with lifetime 0');
      expect(r.lifetime === 0, `lifetime ${r.lifetime}`);
    },
  },
  {
    info: { id: 'pcp.unsupp-version', group: 'pcp', severity: 'must', section: 'RFC 6887 §9', title: 'a request of version 3 gets UNSUPP_VERSION' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const a = await ctx.pmpAsk(t, 'MAP version 3', mapPacket(ctx, ctx.port(), { version: 3 }));
      if (!a) fail('no answer');
      expect(a.length >= 4 && a[3] === PCP.result.UNSUPP_VERSION, `answer ${a.toString('hex')}`);
    },
  },
  {
    info: { id: 'pcp.unsupp-opcode', group: 'pcp', severity: 'must', section: 'RFC 6887 §7.4', title: 'an unknown opcode gets UNSUPP_OPCODE' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const r = await ctx.pcp(t, 'opcode 7', encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: ctx.localAddress }).fill(7, 1, 2));
      expectPcp(r, 7, PCP.result.UNSUPP_OPCODE, 'opcode 7');
    },
  },
  {
    info: { id: 'pcp.address-mismatch', group: 'pcp', severity: 'must', section: 'RFC 6887 §8.1', title: 'a client address field that is not the source address gets ADDRESS_MISMATCH' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const r = await ctx.pcp(t, 'MAP, wrong client address', mapPacket(ctx, ctx.port(), { clientIp: ctx.otherLanAddress() }));
      expectPcp(r, PCP.opcode.map, PCP.result.ADDRESS_MISMATCH, 'MAP with another client address');
    },
  },
  {
    info: { id: 'pcp.unsupp-option', group: 'pcp', severity: 'must', section: 'RFC 6887 §7.3', title: 'an unknown mandatory option (code 0–127) gets UNSUPP_OPTION' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const r = await ctx.pcp(t, 'MAP with option 99', mapPacket(ctx, ctx.port(), { options: [{ kind: 'raw', code: 99, data: new Uint8Array(4) }] }));
      expectPcp(r, PCP.opcode.map, PCP.result.UNSUPP_OPTION, 'MAP with mandatory option 99');
    },
  },
  {
    info: { id: 'pcp.epoch', group: 'pcp', severity: 'must', section: 'RFC 6887 §8.5', title: 'the epoch time advances with time' },
    async run(ctx, t) {
      await pcpUp(ctx, t);
      const ask = () => ctx.pcp(t, 'ANNOUNCE', encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: ctx.localAddress }));
      const a = await ask();
      const started = Date.now();
      await sleep(2100);
      const b = await ask();
      const elapsed = (Date.now() - started) / 1000;
      const advanced = b.epoch - a.epoch;
      expect(advanced >= elapsed - 1.5 && advanced <= elapsed + 1.5, `epoch advanced ${advanced} s in ${elapsed.toFixed(1)} s`);
    },
  },
];
