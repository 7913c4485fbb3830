/**
 * The device description and SCPDs (UDA 1.0 §2, the IGD device templates, the service
 * templates): fetched, well-formed, the device tree the IGD version demands, and every
 * required action, argument and state variable as igd-service's declaration tables give
 * them (data from the specs; nothing of the server's logic).
 */
import { IGD_SERVICES_BY_VERSION, type ServiceDeclaration } from '@openigd/igd-service/declaration';
import { HttpConnection, httpRequestBytes, type HttpResponse } from '../http-client.js';
import { child, childText, children, parseXml, type XmlElement } from '../xml.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import type { FoundService, RunContext, ServiceKey } from '../context.js';
import type { Check } from './check.js';

const DEVICE_NS = 'urn:schemas-upnp-org:device-1-0';
const SERVICE_NS = 'urn:schemas-upnp-org:service-1-0';
/** Optional in WANCommonInterfaceConfig:1: checked when present. */
const OPTIONAL_ACTIONS = new Set(['GetTotalBytesSent', 'GetTotalBytesReceived', 'GetTotalPacketsSent', 'GetTotalPacketsReceived']);

/** GET of a URL on a connection of its own; the exchange goes on the trace. */
export async function httpGetTraced(ctx: RunContext, t: Trace, target: string): Promise<{ response: HttpResponse; localAddress: string }> {
  const url = new URL(target);
  const c = await HttpConnection.open(url.hostname, url.port === '' ? 80 : Number(url.port), ctx.options.timeoutMs);
  if (typeof c === 'string') fail(`GET ${target}: ${c}`);
  try {
    c.send(httpRequestBytes('GET', `${url.pathname}${url.search}`, [['HOST', url.host], ['CONNECTION', 'close']]));
    const r = await c.response(ctx.options.timeoutMs);
    t.record(`GET ${target}`, typeof r === 'string' ? r : `${r.head}\r\n\r\n${r.body.toString('utf8')}`);
    if (typeof r === 'string') fail(`GET ${target}: ${r}`);
    return { response: r, localAddress: c.localAddress };
  } finally {
    c.close();
  }
}

/** The declaration of a service key in a version (the version its type names). */
function declared(key: ServiceKey, version: number): ServiceDeclaration {
  return IGD_SERVICES_BY_VERSION[version >= 2 ? 2 : 1][key];
}

const typeRe = (kind: 'device' | 'service', name: string) => new RegExp(`^urn:schemas-upnp-org:${kind}:${name}:(\\d+)$`);

function findDevice(list: XmlElement | undefined, name: string): XmlElement | undefined {
  return children(child(list, 'deviceList'), 'device').find((d) => typeRe('device', name).test(childText(d, 'deviceType') ?? ''));
}

function findService(device: XmlElement | undefined, name: string): XmlElement | undefined {
  return children(child(device, 'serviceList'), 'service').find((s) => typeRe('service', name).test(childText(s, 'serviceType') ?? ''));
}

function needDescription(ctx: RunContext): XmlElement {
  if (!ctx.description) skip('needs a well-formed description (desc.well-formed)');
  return ctx.description;
}

function serviceUrls(ctx: RunContext, el: XmlElement, key: ServiceKey): FoundService {
  const base = childText(ctx.description, 'URLBase') || ctx.options.url;
  const type = childText(el, 'serviceType') ?? '';
  const resolve = (name: string) => {
    const v = childText(el, name);
    if (!v) fail(`${type}: no ${name}`);
    try {
      return new URL(v, base).href;
    } catch {
      fail(`${type}: ${name} ${JSON.stringify(v)} is not a URL`);
    }
  };
  return {
    key, serviceType: type, serviceId: childText(el, 'serviceId') ?? '', version: Number(typeRe('service', '\\w+').exec(type)?.[1] ?? 1),
    scpdUrl: resolve('SCPDURL'), controlUrl: resolve('controlURL'), eventUrl: resolve('eventSubURL'),
  };
}

export const descriptionChecks: Check[] = [
  {
    info: { id: 'desc.fetch', group: 'description', severity: 'must', section: 'UDA 1.0 §2.1', title: 'the description URL answers 200 to GET' },
    async run(ctx, t) {
      const { response, localAddress } = await httpGetTraced(ctx, t, ctx.options.url);
      ctx.localAddress = localAddress;
      expect(response.status === 200, `status ${response.status}`);
      ctx.contentTypes.push({ what: 'description', value: response.headers['content-type'] });
      ctx.descriptionText = response.body.toString('utf8');
    },
  },
  {
    info: { id: 'desc.well-formed', group: 'description', severity: 'must', section: 'UDA 1.0 §2.1', title: 'the description is well-formed XML: <root> in the device-1-0 namespace with specVersion 1.x' },
    async run(ctx) {
      if (!ctx.descriptionText) skip('needs desc.fetch');
      const p = parseXml(ctx.descriptionText);
      if (!p.ok) fail(`not well-formed: ${p.reason}`);
      expect(p.root.name === 'root' && p.root.ns === DEVICE_NS, `root element {${p.root.ns}}${p.root.name}`);
      const major = childText(child(p.root, 'specVersion'), 'major');
      expect(major === '1', `specVersion major ${JSON.stringify(major)}`);
      expect(child(p.root, 'device'), 'no root <device>');
      ctx.description = p.root;
    },
  },
  {
    info: {
      id: 'desc.device-tree', group: 'description', severity: 'must', section: 'InternetGatewayDevice:1 §2, :2 §2',
      title: 'InternetGatewayDevice > WANDevice (WANCommonInterfaceConfig) > WANConnectionDevice (WANIPConnection), Layer3Forwarding in the root',
    },
    async run(ctx) {
      const root = child(needDescription(ctx), 'device');
      const rootType = childText(root, 'deviceType') ?? '';
      const v = typeRe('device', 'InternetGatewayDevice').exec(rootType);
      if (!v) fail(`root deviceType ${JSON.stringify(rootType)}`);
      ctx.version = Number(v[1]) >= 2 ? 2 : 1;
      const wanDevice = findDevice(root, 'WANDevice');
      const connDevice = findDevice(wanDevice, 'WANConnectionDevice');
      for (const [d, n] of [[root, 'InternetGatewayDevice'], [wanDevice, 'WANDevice'], [connDevice, 'WANConnectionDevice']] as const) {
        if (d) ctx.devices.push({ udn: childText(d, 'UDN') ?? '', deviceType: childText(d, 'deviceType') ?? '' });
        const dv = Number(typeRe('device', n).exec(childText(d, 'deviceType') ?? '')?.[1] ?? 0);
        expect(d, `no ${n} device`);
        expect(dv === ctx.version, `${n}:${dv} in an InternetGatewayDevice:${ctx.version}`);
      }
      const found: [ServiceKey, XmlElement | undefined, string][] = [
        ['layer3Forwarding', findService(root, 'Layer3Forwarding'), 'Layer3Forwarding'],
        ['wanCommonInterfaceConfig', findService(wanDevice, 'WANCommonInterfaceConfig'), 'WANCommonInterfaceConfig'],
        ['wanIpConnection', findService(connDevice, 'WANIPConnection'), 'WANIPConnection'],
      ];
      for (const [key, el] of found) if (el) ctx.services.set(key, serviceUrls(ctx, el, key));
      for (const d of [root, wanDevice, connDevice]) for (const s of children(child(d, 'serviceList'), 'service')) ctx.serviceTypes.push(childText(s, 'serviceType') ?? '');
      const ip = ctx.services.get('wanIpConnection');
      expect(ip, 'no WANIPConnection service in the WANConnectionDevice');
      expect(ip.version === ctx.version, `WANIPConnection:${ip.version} in an InternetGatewayDevice:${ctx.version}`);
      expect(ctx.services.has('wanCommonInterfaceConfig'), 'no WANCommonInterfaceConfig in the WANDevice');
      if (ctx.version === 1) expect(ctx.services.has('layer3Forwarding'), 'no Layer3Forwarding in the root device (required by IGD:1)');
    },
  },
  {
    info: {
      id: 'desc.device-fields', group: 'description', severity: 'must', section: 'UDA 1.0 §2.1',
      title: 'every device has deviceType, friendlyName, manufacturer, modelName and a unique uuid: UDN; every service its five elements',
    },
    async run(ctx) {
      const walk = (d: XmlElement, depth: number, out: XmlElement[]) => {
        if (depth > 8) return;
        out.push(d);
        for (const c of children(child(d, 'deviceList'), 'device')) walk(c, depth + 1, out);
      };
      const all: XmlElement[] = [];
      const root = child(needDescription(ctx), 'device');
      if (!root) skip('no root device');
      walk(root, 0, all);
      const udns = new Set<string>();
      for (const d of all) {
        const type = childText(d, 'deviceType') ?? '(no deviceType)';
        for (const f of ['deviceType', 'friendlyName', 'manufacturer', 'modelName', 'UDN']) expect(childText(d, f), `${type}: no ${f}`);
        const udn = childText(d, 'UDN')!;
        expect(/^uuid:\S+$/.test(udn), `${type}: UDN ${JSON.stringify(udn)} does not start with uuid:`);
        expect(!udns.has(udn), `UDN ${udn} used twice`);
        udns.add(udn);
        for (const s of children(child(d, 'serviceList'), 'service')) {
          for (const f of ['serviceType', 'serviceId', 'SCPDURL', 'controlURL', 'eventSubURL']) expect(childText(s, f), `${type}: a service without ${f}`);
          expect(/^urn:[\w.-]+:serviceId:\S+$/.test(childText(s, 'serviceId')!), `serviceId ${childText(s, 'serviceId')} is not urn:…:serviceId:…`);
        }
      }
    },
  },
  {
    info: { id: 'scpd.fetch', group: 'description', severity: 'must', section: 'UDA 1.0 §2.3', title: 'every SCPD answers 200 and is well-formed <scpd> in the service-1-0 namespace' },
    async run(ctx, t) {
      if (ctx.services.size === 0) skip('needs desc.device-tree');
      for (const s of ctx.services.values()) {
        const { response } = await httpGetTraced(ctx, t, s.scpdUrl);
        expect(response.status === 200, `${s.scpdUrl}: status ${response.status}`);
        ctx.contentTypes.push({ what: `SCPD of ${s.serviceType}`, value: response.headers['content-type'] });
        const p = parseXml(response.body.toString('utf8'));
        if (!p.ok) fail(`${s.scpdUrl}: not well-formed: ${p.reason}`);
        expect(p.root.name === 'scpd' && p.root.ns === SERVICE_NS, `${s.scpdUrl}: root element {${p.root.ns}}${p.root.name}`);
        expect(childText(child(p.root, 'specVersion'), 'major') === '1', `${s.scpdUrl}: specVersion major is not 1`);
        s.scpd = p.root;
      }
    },
  },
  {
    info: {
      id: 'scpd.actions', group: 'description', severity: 'must', section: 'WANIPConnection:1/:2, WANCommonInterfaceConfig:1, Layer3Forwarding:1 §2.4',
      title: 'every required action is declared, with its arguments by name, direction and order',
    },
    async run(ctx) {
      for (const s of scpds(ctx)) {
        const actions = children(child(s.scpd, 'actionList'), 'action');
        for (const want of declared(s.key, s.version).actions) {
          const got = actions.find((a) => childText(a, 'name') === want.name);
          if (!got) {
            if (OPTIONAL_ACTIONS.has(want.name)) continue;
            fail(`${s.serviceType}: no action ${want.name}`);
          }
          const args = children(child(got, 'argumentList'), 'argument').map((a) => `${childText(a, 'direction')} ${childText(a, 'name')}`);
          const expected = [...want.inArgs.map((a) => `in ${a.name}`), ...want.outArgs.map((a) => `out ${a.name}`)];
          expect(args.join(', ') === expected.join(', '), `${s.serviceType} ${want.name}: arguments [${args.join(', ')}], the spec has [${expected.join(', ')}]`);
        }
      }
    },
  },
  {
    info: {
      id: 'scpd.related-variables', group: 'description', severity: 'must', section: 'UDA 1.0 §2.3 and the service templates',
      title: 'each argument names the related state variable the spec gives it, and the SCPD declares that variable',
    },
    async run(ctx) {
      for (const s of scpds(ctx)) {
        const vars = new Set(children(child(s.scpd, 'serviceStateTable'), 'stateVariable').map((v) => childText(v, 'name')));
        const decl = declared(s.key, s.version);
        for (const a of children(child(s.scpd, 'actionList'), 'action')) {
          const want = decl.actions.find((d) => d.name === childText(a, 'name'));
          for (const arg of children(child(a, 'argumentList'), 'argument')) {
            const related = childText(arg, 'relatedStateVariable') ?? '';
            expect(vars.has(related), `${s.serviceType} ${childText(a, 'name')} ${childText(arg, 'name')}: related variable ${JSON.stringify(related)} is not in the serviceStateTable`);
            const spec = want && [...want.inArgs, ...want.outArgs].find((x) => x.name === childText(arg, 'name'));
            if (spec) expect(spec.relatedStateVariable === related, `${s.serviceType} ${want.name} ${spec.name}: related variable ${related}, the spec has ${spec.relatedStateVariable}`);
          }
        }
      }
    },
  },
  {
    info: {
      id: 'scpd.state-variables', group: 'description', severity: 'must', section: 'service templates §2.2',
      title: 'every state variable the actions use is declared with the spec\'s data type and sendEvents',
    },
    async run(ctx) {
      for (const s of scpds(ctx)) {
        const vars = children(child(s.scpd, 'serviceStateTable'), 'stateVariable');
        const decl = declared(s.key, s.version);
        const used = new Set(decl.actions.filter((a) => !OPTIONAL_ACTIONS.has(a.name)).flatMap((a) => [...a.inArgs, ...a.outArgs].map((x) => x.relatedStateVariable)));
        for (const want of decl.stateVariables) {
          const got = vars.find((v) => childText(v, 'name') === want.name);
          if (!got) {
            if (used.has(want.name) || want.sendEvents) fail(`${s.serviceType}: no state variable ${want.name}`);
            continue;
          }
          expect(childText(got, 'dataType') === want.dataType, `${s.serviceType} ${want.name}: dataType ${childText(got, 'dataType')}, the spec has ${want.dataType}`);
          const events = (got.attrs.sendEvents ?? 'yes').toLowerCase() === 'yes';
          expect(events === want.sendEvents, `${s.serviceType} ${want.name}: sendEvents="${got.attrs.sendEvents ?? '(absent: yes)'}", the spec has ${want.sendEvents ? 'yes' : 'no'}`);
        }
      }
    },
  },
  {
    info: {
      id: 'scpd.allowed-values', group: 'description', severity: 'should', section: 'service templates §2.2',
      title: 'allowed value lists hold the spec\'s values, and ranges are the spec\'s',
    },
    async run(ctx) {
      for (const s of scpds(ctx)) {
        const vars = children(child(s.scpd, 'serviceStateTable'), 'stateVariable');
        for (const want of declared(s.key, s.version).stateVariables) {
          const got = vars.find((v) => childText(v, 'name') === want.name);
          if (!got) continue;
          if (want.allowedValues) {
            const list = children(child(got, 'allowedValueList'), 'allowedValue').map((v) => v.text.trim());
            const required = want.name === 'PortMappingProtocol' ? want.allowedValues : want.allowedValues.slice(0, 1);
            for (const v of required) expect(list.includes(v), `${s.serviceType} ${want.name}: allowedValueList [${list.join(', ')}] lacks ${v}`);
          }
          if (want.range && want.name === 'PortMappingLeaseDuration') {
            const range = child(got, 'allowedValueRange');
            expect(range, `${s.serviceType} ${want.name}: no allowedValueRange`);
            expect(Number(childText(range, 'minimum')) === want.range.minimum && Number(childText(range, 'maximum')) === want.range.maximum,
              `${s.serviceType} ${want.name}: range ${childText(range, 'minimum')}–${childText(range, 'maximum')}, the spec has ${want.range.minimum}–${want.range.maximum}`);
          }
        }
      }
    },
  },
];


/** The services whose SCPD was read; skips when none. */
function scpds(ctx: RunContext): (FoundService & { scpd: XmlElement })[] {
  const list = [...ctx.services.values()].filter((s): s is FoundService & { scpd: XmlElement } => s.scpd !== undefined);
  if (list.length === 0) skip('needs scpd.fetch');
  return list;
}
