/**
 * Control (UDA 1.0 §3) of WANIPConnection and its neighbours: the answers' form, the read
 * actions, the port-mapping actions' happy paths, the overwrite rule, NewEnabled, remote
 * hosts, leases, and every fault the service templates name that a control point can
 * provoke without harming other clients.
 */
import { serviceDeclaration } from '@openigd/igd-service/declaration';
import { isIPv4 } from 'node:net';
import { parseXml, child, children } from '../xml.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import { describeOutcome, expectFault, faultCode, type RunContext, type ServiceKey } from '../context.js';
import type { Check } from './check.js';

const ENVELOPE_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
const CONTROL_NS = 'urn:schemas-upnp-org:control-1-0';
/** Actions without in arguments and without side effects, by service. */
const READ_ACTIONS: Record<ServiceKey, readonly string[]> = {
  wanIpConnection: ['GetConnectionTypeInfo', 'GetStatusInfo', 'GetNATRSIPStatus', 'GetExternalIPAddress'],
  wanCommonInterfaceConfig: ['GetCommonLinkProperties', 'GetTotalBytesSent', 'GetTotalBytesReceived', 'GetTotalPacketsSent', 'GetTotalPacketsReceived'],
  layer3Forwarding: ['GetDefaultConnectionService'],
};

/** Whether `value` is a valid value of the state variable (UDA 1.0 §2.3 data types). */
function validValue(key: ServiceKey, version: number, variable: string, value: string): string | undefined {
  const v = serviceDeclaration(key, version >= 2 ? 2 : 1).stateVariables.find((x) => x.name === variable);
  if (!v) return undefined;
  const n = Number(value);
  if (v.dataType === 'ui2' && !(/^\d+$/.test(value) && n <= 65535)) return `${value} is not a ui2`;
  if (v.dataType === 'ui4' && !(/^\d+$/.test(value) && n <= 4294967295)) return `${value} is not a ui4`;
  if (v.dataType === 'boolean' && !['0', '1', 'true', 'false', 'yes', 'no'].includes(value)) return `${value} is not a boolean`;
  if (v.allowedValues && v.name !== 'PossibleConnectionTypes' && !v.allowedValues.includes(value)) return `${value} is not one of ${v.allowedValues.join(', ')}`;
  return undefined;
}

/** A mapping's fields as GetSpecificPortMappingEntry answers them must equal what was added. */
async function expectEntry(ctx: RunContext, t: Trace, port: number, want: Record<string, string>, remoteHost = ''): Promise<Readonly<Record<string, string>>> {
  const { outcome } = await ctx.getSpecific(t, port, 'TCP', remoteHost);
  if (!outcome.ok) fail(`GetSpecificPortMappingEntry of ${port}: ${describeOutcome(outcome)}`);
  for (const [k, v] of Object.entries(want)) {
    const got = outcome.values[k];
    const same = k === 'NewEnabled' ? ['1', 'true', 'yes'].includes(got ?? '') === (v === '1') : got === v;
    expect(same, `GetSpecificPortMappingEntry of ${port}: ${k} = ${JSON.stringify(got)}, added ${JSON.stringify(v)}`);
  }
  return outcome.values;
}

function needWanIp(ctx: RunContext): void {
  ctx.service('wanIpConnection');
  if (!ctx.localAddress) skip('our address is unknown (needs desc.fetch)');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const soapChecks: Check[] = [
  {
    info: { id: 'soap.external-ip', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.18', title: 'GetExternalIPAddress answers an IPv4 address' },
    async run(ctx, t) {
      const v = await ctx.soapOk(t, 'wanIpConnection', 'GetExternalIPAddress', []);
      const a = v.NewExternalIPAddress ?? '';
      expect(isIPv4(a), `NewExternalIPAddress ${JSON.stringify(a)}`);
      ctx.externalAddress = a;
    },
  },
  {
    info: {
      id: 'soap.read-actions', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4, WANCommonInterfaceConfig:1 §2.4, Layer3Forwarding:1 §2.4',
      title: 'every read action declared answers every out argument with a value of its variable\'s type',
    },
    async run(ctx, t) {
      let asked = 0;
      for (const s of ctx.services.values()) {
        const declaredActions = new Set(children(child(s.scpd, 'actionList'), 'action').map((a) => a.children.find((c) => c.name === 'name')?.text.trim()));
        const spec = serviceDeclaration(s.key, s.version >= 2 ? 2 : 1);
        for (const name of READ_ACTIONS[s.key]) {
          if (s.scpd && !declaredActions.has(name)) continue;
          const decl = spec.actions.find((a) => a.name === name)!;
          const values = await ctx.soapOk(t, s.key, name, []);
          asked++;
          for (const out of decl.outArgs) {
            const value = values[out.name];
            expect(value !== undefined, `${name}: no ${out.name} in the answer`);
            const bad = validValue(s.key, s.version, out.relatedStateVariable, value.trim());
            expect(bad === undefined, `${name}: ${out.name}: ${bad}`);
          }
        }
      }
      if (asked === 0) skip('no service found');
    },
  },
  {
    info: {
      id: 'soap.response-form', group: 'soap', severity: 'must', section: 'UDA 1.0 §3.2.2',
      title: 'an answer is 200 text/xml: s:Envelope > s:Body > u:<Action>Response in the service type\'s namespace, out arguments in spec order',
    },
    async run(ctx, t) {
      const { response } = await ctx.soap(t, 'wanIpConnection', 'GetStatusInfo', []);
      if (typeof response === 'string') fail(response);
      expect(response.status === 200, `status ${response.status}`);
      const p = parseXml(response.body.toString('utf8'));
      if (!p.ok) fail(`not well-formed: ${p.reason}`);
      expect(p.root.name === 'Envelope' && p.root.ns === ENVELOPE_NS, `root {${p.root.ns}}${p.root.name}`);
      const body = child(p.root, 'Body');
      expect(body && body.ns === ENVELOPE_NS, 'no s:Body');
      const answer = body.children[0];
      const type = ctx.service('wanIpConnection').serviceType;
      expect(answer && answer.name === 'GetStatusInfoResponse' && answer.ns === type, `body holds {${answer?.ns}}${answer?.name}, not {${type}}GetStatusInfoResponse`);
      const order = answer.children.map((c) => c.name).join(', ');
      expect(order === 'NewConnectionStatus, NewLastConnectionError, NewUptime', `out arguments in the order ${order}`);
    },
  },
  {
    info: {
      id: 'soap.fault-form', group: 'soap', severity: 'must', section: 'UDA 1.0 §3.2.2',
      title: 'an error is HTTP 500 with s:Fault: faultcode s:Client, faultstring UPnPError, detail/UPnPError (control-1-0) with errorCode and errorDescription',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const { response } = await ctx.getSpecific(t, ctx.port());
      if (typeof response === 'string') fail(response);
      expect(response.status === 500, `status ${response.status}`);
      const p = parseXml(response.body.toString('utf8'));
      if (!p.ok) fail(`not well-formed: ${p.reason}`);
      const fault = child(child(p.root, 'Body'), 'Fault');
      expect(fault && fault.ns === ENVELOPE_NS, 'no s:Fault in s:Body');
      const code = child(fault, 'faultcode')?.text.trim() ?? '';
      expect(/^([\w.-]+:)?Client$/.test(code), `faultcode ${JSON.stringify(code)}`);
      expect(child(fault, 'faultstring')?.text.trim() === 'UPnPError', `faultstring ${JSON.stringify(child(fault, 'faultstring')?.text)}`);
      const err = child(child(fault, 'detail'), 'UPnPError');
      expect(err && err.ns === CONTROL_NS, 'no UPnPError in the control-1-0 namespace inside detail');
      expect(/^\d+$/.test(child(err, 'errorCode')?.text.trim() ?? ''), 'errorCode missing or not a number');
      expect(child(err, 'errorDescription') !== undefined, 'no errorDescription');
    },
  },
  {
    info: { id: 'soap.fault-401', group: 'soap', severity: 'must', section: 'UDA 1.0 §3.2.2', title: 'an action the service does not have gets 401 Invalid Action' },
    async run(ctx, t) {
      const { outcome } = await ctx.soap(t, 'wanIpConnection', 'NoSuchActionOpenIGDConformance', []);
      expectFault(outcome, 401, 'an unknown action');
    },
  },
  {
    info: { id: 'soap.fault-402', group: 'soap', severity: 'must', section: 'UDA 1.0 §3.2.2; WANIPConnection:1 §2.4.16', title: 'AddPortMapping without NewInternalClient, or with NewExternalPort "x", gets 402 Invalid Args' },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = String(ctx.port());
      const base: [string, string][] = [['NewRemoteHost', ''], ['NewExternalPort', port], ['NewProtocol', 'TCP'], ['NewInternalPort', port]];
      const tail: [string, string][] = [['NewEnabled', '1'], ['NewPortMappingDescription', 'openigd-conformance'], ['NewLeaseDuration', '0']];
      const missing = await ctx.soap(t, 'wanIpConnection', 'AddPortMapping', [...base, ...tail]);
      if (missing.outcome.ok) ctx.own.set(`upnp  ${port} TCP`, { via: 'upnp', remoteHost: '', externalPort: Number(port), protocol: 'TCP' });
      expectFault(missing.outcome, 402, 'AddPortMapping without NewInternalClient');
      const bad = await ctx.soap(t, 'wanIpConnection', 'AddPortMapping', [['NewRemoteHost', ''], ['NewExternalPort', 'x'], ['NewProtocol', 'TCP'],
        ['NewInternalPort', port], ['NewInternalClient', ctx.localAddress], ...tail]);
      expectFault(bad.outcome, 402, 'AddPortMapping with NewExternalPort "x"');
    },
  },
  {
    info: {
      id: 'soap.add', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.16, §2.4.15',
      title: 'AddPortMapping succeeds, and GetSpecificPortMappingEntry answers what was added',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      const { outcome } = await ctx.addMapping(t, { externalPort: port, internalPort: port + 1, description: 'conformance add' });
      if (!outcome.ok) fail(`AddPortMapping: ${describeOutcome(outcome)}`);
      await expectEntry(ctx, t, port, {
        NewInternalPort: String(port + 1), NewInternalClient: ctx.localAddress, NewEnabled: '1', NewPortMappingDescription: 'conformance add',
      });
      ctx.sample = port;
    },
  },
  {
    info: {
      id: 'soap.static-lease', group: 'soap', severity: 'should', section: 'WANIPConnection:1 §2.2.15', versions: [1],
      title: 'a mapping added with NewLeaseDuration 0 is static: reported with lease 0',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      await ctx.addOk(t, { externalPort: port, lease: 0 });
      await expectEntry(ctx, t, port, { NewLeaseDuration: '0' });
    },
  },
  {
    info: {
      id: 'soap.generic-entry', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.14',
      title: 'GetGenericPortMappingEntry, walked from index 0, lists the mapping with its fields',
    },
    async run(ctx, t) {
      if (ctx.sample === undefined) skip('needs soap.add');
      for (let i = 0; i < 2000; i++) {
        const { outcome } = await ctx.soap(t, 'wanIpConnection', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', String(i)]]);
        if (!outcome.ok) fail(`index ${i}: ${describeOutcome(outcome)} before the mapping on ${ctx.sample} was listed`);
        if (outcome.values.NewExternalPort !== String(ctx.sample) || outcome.values.NewProtocol !== 'TCP') continue;
        expect(outcome.values.NewInternalClient === ctx.localAddress && outcome.values.NewInternalPort === String(ctx.sample + 1),
          `index ${i}: internal ${outcome.values.NewInternalClient}:${outcome.values.NewInternalPort}, added ${ctx.localAddress}:${ctx.sample + 1}`);
        return;
      }
      fail('not listed within 2000 entries');
    },
  },
  {
    info: { id: 'soap.fault-713', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.14', title: 'GetGenericPortMappingEntry past the last entry gets 713 SpecifiedArrayIndexInvalid' },
    async run(ctx, t) {
      needWanIp(ctx);
      const { outcome } = await ctx.soap(t, 'wanIpConnection', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '65000']]);
      expectFault(outcome, 713, 'index 65000');
    },
  },
  {
    info: { id: 'soap.fault-714', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.15, §2.4.17', title: 'GetSpecificPortMappingEntry and DeletePortMapping of no mapping get 714 NoSuchEntryInArray' },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      expectFault((await ctx.getSpecific(t, port)).outcome, 714, 'GetSpecificPortMappingEntry of an unmapped port');
      expectFault((await ctx.deleteMapping(t, port)).outcome, 714, 'DeletePortMapping of an unmapped port');
    },
  },
  {
    info: { id: 'soap.fault-716', group: 'soap', severity: 'should', section: 'WANIPConnection:1 §2.4.16, :2 §2.5.16', title: 'AddPortMapping of external port 0 (the wildcard) gets 716 WildCardNotPermittedInExtPort' },
    async run(ctx, t) {
      needWanIp(ctx);
      const { outcome } = await ctx.addMapping(t, { externalPort: 0, internalPort: ctx.port() });
      expectFault(outcome, 716, 'external port 0');
    },
  },
  {
    info: {
      id: 'soap.fault-718', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.16',
      title: 'AddPortMapping of a port mapped to another internal client gets 718 ConflictInMappingEntry',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      await ctx.addOk(t, { externalPort: port });
      const { outcome } = await ctx.addMapping(t, { externalPort: port, client: ctx.otherLanAddress() });
      if (ctx.version === 2 && faultCode(outcome) === 606) return; // may refuse other clients first
      expectFault(outcome, 718, `the same port for ${ctx.otherLanAddress()}`);
    },
  },
  {
    info: {
      id: 'soap.overwrite', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.16',
      title: 'AddPortMapping of an existing key for the same internal client replaces it (port, description, NewEnabled)',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      await ctx.addOk(t, { externalPort: port, description: 'conformance first' });
      const b = await ctx.addMapping(t, { externalPort: port, internalPort: port + 7, description: 'conformance second' });
      if (!b.outcome.ok) fail(`the second AddPortMapping over the first: ${describeOutcome(b.outcome)}`);
      await expectEntry(ctx, t, port, { NewInternalPort: String(port + 7), NewPortMappingDescription: 'conformance second' });
    },
  },
  {
    info: { id: 'soap.enabled', group: 'soap', severity: 'should', section: 'WANIPConnection:1 §2.2.10', title: 'a mapping added with NewEnabled 0 is reported disabled' },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      const a = await ctx.addMapping(t, { externalPort: port, enabled: false });
      if (!a.outcome.ok) fail(`AddPortMapping with NewEnabled 0: ${describeOutcome(a.outcome)}`);
      await expectEntry(ctx, t, port, { NewEnabled: '0' });
    },
  },
  {
    info: {
      id: 'soap.remote-host', group: 'soap', severity: 'should', section: 'WANIPConnection:1 §2.2.13, §2.4.16',
      title: 'a mapping for one remote host is kept apart from the wildcard (or, IGD:1 only, refused with 726)',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      const remote = '198.51.100.77';
      const a = await ctx.addMapping(t, { externalPort: port, remoteHost: remote });
      if (ctx.version === 1 && faultCode(a.outcome) === 726) return;
      if (!a.outcome.ok) fail(`AddPortMapping for remote host ${remote}: ${describeOutcome(a.outcome)}`);
      await expectEntry(ctx, t, port, { NewInternalClient: ctx.localAddress }, remote);
      expectFault((await ctx.getSpecific(t, port)).outcome, 714, 'the wildcard entry of that port (only the remote host\'s exists)');
    },
  },
  {
    info: { id: 'soap.delete', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.4.17', title: 'DeletePortMapping removes the mapping' },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      await ctx.addOk(t, { externalPort: port });
      const d = await ctx.deleteMapping(t, port);
      if (!d.outcome.ok) fail(`DeletePortMapping: ${describeOutcome(d.outcome)}`);
      expectFault((await ctx.getSpecific(t, port)).outcome, 714, 'GetSpecificPortMappingEntry after the delete');
    },
  },
  {
    info: {
      id: 'soap.lease', group: 'soap', severity: 'must', section: 'WANIPConnection:1 §2.2.15, :2 §2.3.15',
      title: 'a short lease is reported counting down and really expires (IGD:1 may refuse leases with 725)',
    },
    async run(ctx, t) {
      needWanIp(ctx);
      const port = ctx.port();
      const lease = ctx.options.shortLeaseSeconds;
      const a = await ctx.addMapping(t, { externalPort: port, lease });
      if (ctx.version === 1 && faultCode(a.outcome) === 725) skip('725: the device supports only permanent leases');
      if (!a.outcome.ok) fail(`AddPortMapping with a ${lease} s lease: ${describeOutcome(a.outcome)}`);
      const v = await expectEntry(ctx, t, port, {});
      const left = Number(v.NewLeaseDuration);
      expect(left >= 1 && left <= lease, `NewLeaseDuration ${v.NewLeaseDuration} right after adding a ${lease} s lease`);
      const deadline = Date.now() + (lease + 3) * 1000;
      await sleep(lease * 1000);
      for (let i = 0; i < 100; i++) {
        const { outcome } = await ctx.getSpecific(t, port);
        if (faultCode(outcome) === 714) return;
        if (Date.now() > deadline) fail(`still there ${lease + 3} s after a ${lease} s lease: ${describeOutcome(outcome)}`);
        await sleep(500);
      }
    },
  },
];
