/**
 * A small IGD test double on loopback for the conformance tool's own tests: HTTP
 * (description, SCPDs, SOAP control, GENA), SSDP (unicast M-SEARCH) and NAT-PMP/PCP, each
 * on an ephemeral port of 127.0.0.1. Done right it passes every check; given the id of a
 * check in `breaks`, it gets exactly the thing that check looks at wrong, so a test can
 * show that each check is able to fail. It keeps its state in memory, sends NOTIFY only to
 * loopback callbacks, and is test support: no production entry point imports it.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serviceDeclaration, type ServiceDeclaration, type StateVariableDeclaration } from '@openigd/igd-service/declaration';
import { dechunk } from '../http-client.js';
import { child, parseXml } from '../xml.js';
import { parseSsdpMessage } from '../ssdp-client.js';

export interface FakeIgdOptions {
  readonly version: 1 | 2;
  /** Check ids whose subject this double gets wrong. */
  readonly breaks?: Iterable<string>;
  /** A loopback UDP port to send its NOTIFYs to (a byebye set then an alive set, every second). */
  readonly notifyTo?: number;
}

export interface FakeIgd {
  readonly url: string;
  readonly ssdp: { readonly address: string; readonly port: number };
  readonly pmp: { readonly address: string; readonly port: number };
  /** Mappings held now (any origin). */
  mappingCount(): number;
  close(): Promise<void>;
}

type Key = 'layer3Forwarding' | 'wanCommonInterfaceConfig' | 'wanIpConnection';
const KEYS: readonly Key[] = ['layer3Forwarding', 'wanCommonInterfaceConfig', 'wanIpConnection'];
const HOST = '127.0.0.1';
/** The double's "external" address: a loopback one, so that the data-plane probes stay on this machine. */
const EXTERNAL = '127.0.0.2';
const MAX_LEASE = 604_800;
/** The table's size: a run fills it only on purpose (igd2.fault-728). */
const MAX_MAPPINGS = 60;

interface Mapping {
  remoteHost: string;
  externalPort: number;
  protocol: 'TCP' | 'UDP';
  internalPort: number;
  client: string;
  enabled: boolean;
  description: string;
  /** 0: static. */
  expiresAt: number;
  origin: 'upnp' | 'pcp' | 'natpmp';
  nonce?: string;
}

interface Subscription { callback?: string; seq: number }

interface Request { method: string; path: string; headers: Record<string, string>; body: string }
interface Reply { status: number; reason?: string; headers?: Record<string, string>; body?: string; raw?: string }

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 404: 'Not Found', 411: 'Length Required', 412: 'Precondition Failed', 500: 'Internal Server Error' };

const FAULTS: Record<number, string> = {
  728: 'NoPortMapsAvailable', 401: 'Invalid Action', 402: 'Invalid Args', 501: 'Action Failed', 713: 'SpecifiedArrayIndexInvalid', 714: 'NoSuchEntryInArray',
  716: 'WildCardNotPermittedInExtPort', 718: 'ConflictInMappingEntry', 729: 'ConflictWithOtherMechanisms', 730: 'PortMappingNotFound', 733: 'InconsistentParameters',
};

class SoapFault extends Error {
  constructor(readonly code: number) { super(String(code)); }
}

export async function startFakeIgd(o: FakeIgdOptions): Promise<FakeIgd> {
  const fake = new Fake(o.version, new Set(o.breaks ?? []));
  await fake.start();
  if (o.notifyTo !== undefined) fake.announceTo(o.notifyTo);
  return fake;
}

class Fake implements FakeIgd {
  private readonly uuid = randomUUID();
  private readonly mappings: Mapping[] = [];
  private readonly subs = new Map<string, Subscription>();
  private readonly issued = new Set<string>();
  private readonly started = Date.now();
  private http?: Server;
  private readonly sockets = new Set<Socket>();
  private udp?: UdpSocket;
  private pmpSocket?: UdpSocket;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Data-plane listeners on EXTERNAL, by "PROTOCOL port"; each closes itself. */
  private readonly forwarders = new Map<string, () => void>();
  url = '';
  ssdp = { address: HOST, port: 0 };
  pmp = { address: HOST, port: 0 };

  constructor(private readonly version: 1 | 2, private readonly breaks: ReadonlySet<string>) {}

  private b(id: string): boolean {
    return this.breaks.has(id);
  }

  mappingCount(): number {
    this.expire();
    return this.mappings.length;
  }

  async start(): Promise<void> {
    this.http = createServer((s) => this.connection(s));
    await new Promise<void>((r) => this.http!.listen(0, HOST, r));
    this.url = `http://${HOST}:${(this.http.address() as AddressInfo).port}/rootDesc.xml`;
    this.udp = createSocket('udp4');
    this.udp.on('message', (m, r) => this.mSearch(m.toString('latin1'), r));
    await new Promise<void>((r) => this.udp!.bind(0, HOST, r));
    this.ssdp = { address: HOST, port: this.udp.address().port };
    this.pmpSocket = createSocket('udp4');
    this.pmpSocket.on('message', (m, r) => this.pmpMessage(m, r));
    await new Promise<void>((r) => this.pmpSocket!.bind(0, HOST, r));
    this.pmp = { address: HOST, port: this.pmpSocket.address().port };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    for (const close of this.forwarders.values()) close();
    this.udp?.close();
    this.pmpSocket?.close();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
  }

  // ---- the data plane: a mapping's external port on EXTERNAL forwards to its client -------

  private hold(m: Mapping): void {
    this.mappings.push(m);
    const key = `${m.protocol} ${m.externalPort}`;
    if (this.forwarders.has(key)) return;
    if (m.protocol === 'TCP') {
      const server = createServer((c) => this.forwardTcp(c, m.externalPort));
      server.on('error', () => undefined);
      server.listen(m.externalPort, EXTERNAL);
      this.forwarders.set(key, () => server.close());
    } else {
      const socket = createSocket('udp4');
      socket.on('error', () => undefined);
      socket.on('message', (d) => {
        const to = this.forwardTo(m.externalPort, 'UDP');
        if (to) socket.send(d, to.internalPort, to.client);
      });
      socket.bind(m.externalPort, EXTERNAL);
      this.forwarders.set(key, () => socket.close());
    }
  }

  /** The live, enabled mapping of an external port, unless the double breaks its protocol's data plane. */
  private forwardTo(port: number, protocol: 'TCP' | 'UDP'): Mapping | undefined {
    this.expire();
    const m = this.mappings.find((x) => x.externalPort === port && x.protocol === protocol && x.enabled);
    return m && !this.b(`dataplane.${m.origin}-${protocol.toLowerCase()}`) ? m : undefined;
  }

  private forwardTcp(c: Socket, port: number): void {
    const to = this.forwardTo(port, 'TCP');
    c.on('error', () => c.destroy());
    if (!to) {
      c.destroy();
      return;
    }
    const inside = createConnection({ host: to.client, port: to.internalPort });
    inside.on('error', () => c.destroy());
    c.on('close', () => inside.destroy());
    c.pipe(inside).pipe(c);
  }

  private later(ms: number, f: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); f(); }, ms);
    this.timers.add(t);
  }

  // ---- the device tree ------------------------------------------------------------------

  private udn(i: number): string {
    return `uuid:${this.uuid.slice(0, -2)}0${i}`;
  }

  private deviceTypes(): string[] {
    const v = this.version;
    const conn = this.b('desc.device-tree') ? 'WANConnDevice' : 'WANConnectionDevice';
    return [`urn:schemas-upnp-org:device:InternetGatewayDevice:${v}`, `urn:schemas-upnp-org:device:WANDevice:${v}`, `urn:schemas-upnp-org:device:${conn}:${v}`];
  }

  private decl(key: Key): ServiceDeclaration {
    return serviceDeclaration(key, key === 'wanIpConnection' ? this.version : 1);
  }

  private serviceXml(key: Key): string {
    const d = this.decl(key);
    return `<service><serviceType>${d.serviceType}</serviceType><serviceId>${d.serviceId}</serviceId>`
      + `<SCPDURL>/scpd/${key}.xml</SCPDURL><controlURL>/ctl/${key}</controlURL><eventSubURL>/evt/${key}</eventSubURL></service>`;
  }

  private description(): string {
    const [igd, wan, conn] = this.deviceTypes();
    const device = (type: string, i: number, services: string, inner: string, fields = true) => `<device><deviceType>${type}</deviceType>`
      + `<friendlyName>Fake IGD</friendlyName>${fields ? '<manufacturer>OpenIGD tests</manufacturer>' : ''}<modelName>fake</modelName>`
      + `<UDN>${this.udn(i)}</UDN><serviceList>${services}</serviceList>${inner ? `<deviceList>${inner}</deviceList>` : ''}</device>`;
    const connDevice = device(conn!, 3, this.serviceXml('wanIpConnection'), '');
    const wanDevice = device(wan!, 2, this.serviceXml('wanCommonInterfaceConfig'), connDevice);
    const root = device(igd!, 1, this.serviceXml('layer3Forwarding'), wanDevice, !this.b('desc.device-fields'));
    const xml = `<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>${root}</root>\n`;
    return this.b('desc.well-formed') ? xml.slice(0, -20) : xml;
  }

  private variableXml(v: StateVariableDeclaration): string {
    let type: string = v.dataType;
    if (this.b('scpd.state-variables') && v.name === 'ExternalPort') type = 'ui4';
    let allowed = v.allowedValues ? [...v.allowedValues] : undefined;
    if (this.b('scpd.allowed-values') && v.name === 'PortMappingProtocol') allowed = ['TCP'];
    return `<stateVariable sendEvents="${v.sendEvents ? 'yes' : 'no'}"><name>${v.name}</name><dataType>${type}</dataType>`
      + (allowed ? `<allowedValueList>${allowed.map((a) => `<allowedValue>${a}</allowedValue>`).join('')}</allowedValueList>` : '')
      + (v.range ? `<allowedValueRange><minimum>${v.range.minimum}</minimum><maximum>${v.range.maximum}</maximum></allowedValueRange>` : '')
      + '</stateVariable>';
  }

  private scpd(key: Key): string {
    const d = this.decl(key);
    const actions = d.actions.filter((a) => !(this.b('scpd.actions') && a.name === 'GetNATRSIPStatus')).map((a) => {
      const arg = (x: { name: string; relatedStateVariable: string }, dir: string) => {
        const related = this.b('scpd.related-variables') && a.name === 'AddPortMapping' && x.name === 'NewProtocol' ? 'Protocol' : x.relatedStateVariable;
        return `<argument><name>${x.name}</name><direction>${dir}</direction><relatedStateVariable>${related}</relatedStateVariable></argument>`;
      };
      return `<action><name>${a.name}</name><argumentList>${a.inArgs.map((x) => arg(x, 'in')).join('')}${a.outArgs.map((x) => arg(x, 'out')).join('')}</argumentList></action>`;
    });
    return `<?xml version="1.0"?>\n<scpd xmlns="urn:schemas-upnp-org:service-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>`
      + `<actionList>${actions.join('')}</actionList><serviceStateTable>${d.stateVariables.map((v) => this.variableXml(v)).join('')}</serviceStateTable></scpd>\n`;
  }

  // ---- HTTP -----------------------------------------------------------------------------

  private connection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    let busy = false;
    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        for (let i = 0; i < 100; i++) {
          const parsed = parseRequest(buffered);
          if (parsed === null) break;
          if (parsed === 'bad') {
            socket.end(this.b('http.bad-request') ? 'NOT HTTP 501 Not Implemented\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
            return;
          }
          if (parsed.chunked && this.b('http.chunked-request')) {
            socket.end('HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
            return;
          }
          if (parsed.used === 0) break;
          buffered = buffered.subarray(parsed.used);
          const reply = await this.handle(parsed.request, socket.remoteAddress?.replace(/^::ffff:/, '') ?? '');
          const close = /close/i.test(parsed.request.headers.connection ?? '');
          socket.write(this.replyBytes(reply, close));
          if ((close && !this.b('http.connection-close')) || (!close && this.b('http.keep-alive'))) {
            socket.end();
            return;
          }
        }
      } finally {
        busy = false;
      }
    };
    socket.on('data', (c: Buffer) => {
      buffered = Buffer.concat([buffered, c]);
      void pump();
    });
  }

  private replyBytes(r: Reply, close: boolean): Buffer {
    if (r.raw !== undefined) return Buffer.from(r.raw, 'latin1');
    const body = Buffer.from(r.body ?? '', 'utf8');
    const headers = { ...(r.headers ?? {}), 'Content-Length': String(body.length), SERVER: 'Linux/6 UPnP/1.1 FakeIGD/1', ...(close ? { Connection: 'close' } : {}) };
    const head = `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Status'}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), body]);
  }

  private xml(body: string, key?: Key): Reply {
    const plain = key !== undefined && this.b('http.content-type');
    return { status: 200, headers: { 'Content-Type': plain ? 'text/plain' : 'text/xml; charset="utf-8"' }, body };
  }

  private async handle(req: Request, from: string): Promise<Reply> {
    const scpd = /^\/scpd\/(\w+)\.xml$/.exec(req.path);
    const ctl = /^\/ctl\/(\w+)$/.exec(req.path);
    const evt = /^\/evt\/(\w+)$/.exec(req.path);
    if (req.method === 'GET' && req.path === '/rootDesc.xml') return this.b('desc.fetch') ? { status: 500 } : this.xml(this.description());
    if (req.method === 'GET' && scpd && KEYS.includes(scpd[1] as Key)) {
      if (this.b('scpd.fetch') && scpd[1] === 'layer3Forwarding') return { status: 404 };
      return this.xml(this.scpd(scpd[1] as Key), scpd[1] as Key);
    }
    if (req.method === 'POST' && ctl && KEYS.includes(ctl[1] as Key)) return this.control(ctl[1] as Key, req, from);
    if ((req.method === 'SUBSCRIBE' || req.method === 'UNSUBSCRIBE') && evt && KEYS.includes(evt[1] as Key)) return this.gena(evt[1] as Key, req, from);
    return { status: this.b('http.not-found') ? 500 : 404 };
  }

  // ---- SOAP -----------------------------------------------------------------------------

  private control(key: Key, req: Request, from: string): Reply {
    const p = parseXml(req.body);
    const call = p.ok ? child(p.root, 'Body')?.children[0] : undefined;
    if (!call) return this.fault(402);
    const args: Record<string, string> = {};
    for (const c of call.children) args[c.name] = c.text;
    try {
      const out = this.action(key, call.name, args, from);
      const order = this.b('soap.response-form') && call.name === 'GetStatusInfo' ? [...out].reverse() : out;
      const type = call.ns;
      return this.xml('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
        + `<s:Body><u:${call.name}Response xmlns:u="${type}">${order.map(([k, v]) => `<${k}>${escape(v)}</${k}>`).join('')}</u:${call.name}Response></s:Body></s:Envelope>\r\n`);
    } catch (e) {
      if (e instanceof SoapFault) return this.fault(e.code);
      throw e;
    }
  }

  private fault(code: number): Reply {
    const faultstring = this.b('soap.fault-form') ? 'Error' : 'UPnPError';
    return {
      status: 500, headers: { 'Content-Type': 'text/xml; charset="utf-8"' },
      body: '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
        + `<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>${faultstring}</faultstring><detail>`
        + `<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${FAULTS[code] ?? 'Error'}</errorDescription></UPnPError>`
        + '</detail></s:Fault></s:Body></s:Envelope>\r\n',
    };
  }

  /** The out arguments of an action, or a SoapFault. */
  private action(key: Key, name: string, args: Record<string, string>, from: string): [string, string][] {
    const decl = this.decl(key).actions.find((a) => a.name === name);
    if (!decl) throw new SoapFault(this.b('soap.fault-401') ? 501 : 401);
    for (const a of decl.inArgs) if (args[a.name] === undefined) throw new SoapFault(this.b('soap.fault-402') ? 501 : 402);
    for (const a of decl.inArgs) {
      const v = this.decl(key).stateVariables.find((x) => x.name === a.relatedStateVariable);
      if ((v?.dataType === 'ui2' || v?.dataType === 'ui4') && !/^\d+$/.test(args[a.name]!.trim())) throw new SoapFault(402);
    }
    this.expire();
    switch (name) {
      case 'GetExternalIPAddress': return [['NewExternalIPAddress', this.b('soap.external-ip') ? 'not-an-ip' : EXTERNAL]];
      case 'GetStatusInfo': return [['NewConnectionStatus', 'Connected'], ['NewLastConnectionError', 'ERROR_NONE'], ['NewUptime', this.b('soap.read-actions') ? '-5' : '42']];
      case 'GetConnectionTypeInfo': return [['NewConnectionType', 'IP_Routed'], ['NewPossibleConnectionTypes', 'IP_Routed']];
      case 'GetNATRSIPStatus': return [['NewRSIPAvailable', '0'], ['NewNATEnabled', '1']];
      case 'GetCommonLinkProperties': return [['NewWANAccessType', 'Ethernet'], ['NewLayer1UpstreamMaxBitRate', '1000000000'], ['NewLayer1DownstreamMaxBitRate', '1000000000'], ['NewPhysicalLinkStatus', 'Up']];
      case 'GetTotalBytesSent': case 'GetTotalBytesReceived': case 'GetTotalPacketsSent': case 'GetTotalPacketsReceived':
        return [[decl.outArgs[0]!.name, '0']];
      case 'GetDefaultConnectionService': return [['NewDefaultConnectionService', `${this.udn(3)}:WANConnectionDevice:1,urn:upnp-org:serviceId:WANIPConn1`]];
      case 'AddPortMapping': case 'AddAnyPortMapping': return this.add(name, args);
      case 'GetSpecificPortMappingEntry': return this.getSpecific(args);
      case 'GetGenericPortMappingEntry': {
        const m = this.mappings[Number(args.NewPortMappingIndex)];
        if (!m) throw new SoapFault(this.b('soap.fault-713') ? 402 : 713);
        return [['NewRemoteHost', m.remoteHost], ['NewExternalPort', String(m.externalPort)], ['NewProtocol', m.protocol],
          ['NewInternalPort', String(this.b('soap.generic-entry') ? m.externalPort : m.internalPort)], ...this.entryTail(m).slice(1)];
      }
      case 'DeletePortMapping': {
        const i = this.mappings.indexOf(this.find(args.NewRemoteHost ?? '', Number(args.NewExternalPort), args.NewProtocol ?? '')!);
        if (i < 0) {
          if (this.b('soap.fault-714')) return [];
          throw new SoapFault(714);
        }
        if (!this.b('soap.delete')) this.mappings.splice(i, 1);
        this.changed();
        return [];
      }
      case 'DeletePortMappingRange': {
        const hits = this.inRange(args, from);
        if (!this.b('igd2.delete-range')) for (const m of hits) this.mappings.splice(this.mappings.indexOf(m), 1);
        this.changed();
        return [];
      }
      case 'GetListOfPortMappings': {
        const hits = this.inRange(args, from);
        const ns = this.b('igd2.list') ? 'urn:example:wrong' : 'urn:schemas-upnp-org:gw:WANIPConnection';
        const entries = hits.map((m) => `<p:PortMappingEntry><p:NewRemoteHost>${m.remoteHost}</p:NewRemoteHost><p:NewExternalPort>${m.externalPort}</p:NewExternalPort>`
          + `<p:NewProtocol>${m.protocol}</p:NewProtocol><p:NewInternalPort>${m.internalPort}</p:NewInternalPort><p:NewInternalClient>${m.client}</p:NewInternalClient>`
          + `<p:NewEnabled>${m.enabled ? 1 : 0}</p:NewEnabled><p:NewDescription>${escape(m.description)}</p:NewDescription><p:NewLeaseTime>${this.left(m)}</p:NewLeaseTime></p:PortMappingEntry>`);
        return [['NewPortListing', `<p:PortMappingList xmlns:p="${ns}">${entries.join('')}</p:PortMappingList>`]];
      }
      default: return [];
    }
  }

  private inRange(args: Record<string, string>, from: string): Mapping[] {
    const start = Number(args.NewStartPort);
    const end = Number(args.NewEndPort);
    if (start > end) throw new SoapFault(this.b('igd2.fault-733') ? 730 : 733);
    const manage = ['1', 'true'].includes(args.NewManage ?? '');
    const hits = this.mappings.filter((m) => m.externalPort >= start && m.externalPort <= end && m.protocol === args.NewProtocol && (manage || m.client === from));
    if (hits.length === 0 && !this.b('igd2.fault-730')) throw new SoapFault(730);
    return hits;
  }

  private find(remoteHost: string, port: number, protocol: string): Mapping | undefined {
    const any = this.b('soap.remote-host');
    return this.mappings.find((m) => m.externalPort === port && m.protocol === protocol.toUpperCase() && (any || m.remoteHost === remoteHost));
  }

  private left(m: Mapping): number {
    if (m.expiresAt === 0) return this.b('soap.static-lease') ? MAX_LEASE : 0;
    return Math.max(1, Math.ceil((m.expiresAt - Date.now()) / 1000));
  }

  private entryTail(m: Mapping): [string, string][] {
    return [['NewInternalPort', String(m.internalPort)], ['NewInternalClient', m.client], ['NewEnabled', this.b('soap.add') ? '0' : m.enabled ? '1' : '0'],
      ['NewPortMappingDescription', m.description], ['NewLeaseDuration', String(this.left(m))]];
  }

  private getSpecific(args: Record<string, string>): [string, string][] {
    const m = this.find(args.NewRemoteHost ?? '', Number(args.NewExternalPort), args.NewProtocol ?? '');
    if (!m) throw new SoapFault(714);
    return this.entryTail(m);
  }

  private add(action: string, args: Record<string, string>): [string, string][] {
    const protocol = (args.NewProtocol ?? '').toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP') throw new SoapFault(402);
    let port = Number(args.NewExternalPort);
    const remoteHost = this.b('soap.remote-host') ? '' : args.NewRemoteHost ?? '';
    if (port === 0 && action === 'AddPortMapping') {
      if (this.b('soap.fault-716')) return [];
      throw new SoapFault(716);
    }
    let lease = Number(args.NewLeaseDuration);
    if (this.version === 2) {
      if (lease > MAX_LEASE && this.b('igd2.lease-clamp')) throw new SoapFault(402);
      lease = lease === 0 || lease > MAX_LEASE ? MAX_LEASE : lease;
    }
    const client = args.NewInternalClient ?? '';
    let existing = this.find(remoteHost, port, protocol);
    if (action === 'AddAnyPortMapping' && existing && existing.client !== client) {
      if (this.b('igd2.add-any')) return [['NewReservedPort', String(port)]];
      for (let i = 0; i < 1000 && existing; i++) existing = this.find(remoteHost, ++port, protocol);
    }
    if (existing && existing.client !== client) {
      const overwrite = existing.origin === 'upnp' ? this.b('soap.fault-718') : this.b('pcp.upnp-conflict');
      if (!overwrite) throw new SoapFault(existing.origin !== 'upnp' && this.version === 2 ? 729 : 718);
    }
    if (existing && this.b('soap.overwrite') && existing.client === client) return action === 'AddAnyPortMapping' ? [['NewReservedPort', String(port)]] : [];
    if (!existing && this.mappings.length >= MAX_MAPPINGS) throw new SoapFault(this.version === 2 && !this.b('igd2.fault-728') ? 728 : 501);
    // A broken double (pcp.upnp-conflict) hands out a port another mechanism holds and keeps both.
    if (existing?.origin === 'upnp') this.mappings.splice(this.mappings.indexOf(existing), 1);
    this.hold({
      remoteHost, externalPort: port, protocol, internalPort: Number(args.NewInternalPort), client,
      enabled: this.b('soap.enabled') ? true : !['0', 'false', 'no'].includes(args.NewEnabled ?? '1'),
      description: args.NewPortMappingDescription ?? '', expiresAt: lease === 0 ? 0 : Date.now() + lease * 1000, origin: 'upnp',
    });
    this.changed();
    return action === 'AddAnyPortMapping' ? [['NewReservedPort', String(port)]] : [];
  }

  private expire(): void {
    if (this.b('soap.lease')) return;
    const now = Date.now();
    for (let i = this.mappings.length - 1; i >= 0; i--) {
      const m = this.mappings[i]!;
      if (m.expiresAt !== 0 && m.expiresAt <= now) this.mappings.splice(i, 1);
    }
  }

  // ---- GENA -----------------------------------------------------------------------------

  private gena(key: Key, req: Request, from: string): Reply {
    const h = req.headers;
    const ok = (sid: string): Reply => ({ status: 200, headers: { SID: sid, TIMEOUT: 'Second-300' } });
    if (req.method === 'UNSUBSCRIBE') {
      if (!h.sid || !this.subs.has(h.sid)) return { status: 412 };
      if (!this.b('gena.unsubscribe')) this.subs.delete(h.sid);
      return { status: 200 };
    }
    if (h.sid !== undefined) {
      if ((h.nt !== undefined || h.callback !== undefined) && !this.b('gena.sid-with-nt')) return { status: 400 };
      const sub = this.subs.get(h.sid);
      if (!sub) return this.b('gena.renew-unknown') && !this.issued.has(h.sid) ? ok(h.sid) : { status: 412 };
      if (!this.b('gena.renew')) return ok(h.sid);
      const fresh = `uuid:${randomUUID()}`;
      this.subs.set(fresh, sub);
      return ok(fresh);
    }
    if (h.nt !== 'upnp:event' && !this.b('gena.bad-nt')) return { status: 412 };
    const callback = /^<([^>]+)>/.exec(h.callback ?? '')?.[1];
    if (callback === undefined && !this.b('gena.no-callback')) return { status: 412 };
    if (callback !== undefined && !this.b('gena.callstranger')) {
      let host = '';
      try { host = new URL(callback).hostname; } catch { return { status: 412 }; }
      if (host !== from) return { status: 412 };
    }
    const sid = `${this.b('gena.subscribe') ? '' : 'uuid:'}${randomUUID()}`;
    const sub: Subscription = { ...(callback ? { callback } : {}), seq: 0 };
    this.subs.set(sid, sub);
    this.issued.add(sid);
    if (key === 'wanIpConnection') {
      this.later(20, () => {
        const vars = this.decl('wanIpConnection').stateVariables.filter((v) => v.sendEvents && !(this.b('gena.initial-event') && v.name === 'ExternalIPAddress'));
        this.notify(sid, sub, vars.map((v) => [v.name, this.value(v.name)]));
      });
    }
    return ok(sid);
  }

  private value(name: string): string {
    switch (name) {
      case 'ExternalIPAddress': return EXTERNAL;
      case 'PortMappingNumberOfEntries': return String(this.mappings.length);
      case 'ConnectionStatus': return 'Connected';
      case 'PossibleConnectionTypes': return 'IP_Routed';
      default: return '0';
    }
  }

  private changed(): void {
    if (this.b('gena.event-on-change')) return;
    for (const [sid, sub] of this.subs) this.notify(sid, sub, [['PortMappingNumberOfEntries', this.value('PortMappingNumberOfEntries')]]);
  }

  /** One NOTIFY, to loopback callbacks only. */
  private notify(sid: string, sub: Subscription, vars: [string, string][]): void {
    if (!sub.callback) return;
    let url: URL;
    try { url = new URL(sub.callback); } catch { return; }
    if (!url.hostname.startsWith('127.')) return;
    const body = `<?xml version="1.0"?>\n<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">${vars.map(([k, v]) => `<e:property><${k}>${v}</${k}></e:property>`).join('')}</e:propertyset>\n`;
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'NOTIFY', agent: false, headers: {
      'Content-Type': 'text/xml; charset="utf-8"', NT: 'upnp:event', NTS: 'upnp:propchange', SID: sid, SEQ: String(sub.seq++), 'Content-Length': String(Buffer.byteLength(body)),
    } }, (res) => res.resume());
    req.on('error', () => {});
    req.end(body);
  }

  // ---- SSDP -----------------------------------------------------------------------------

  /** Sends a byebye set and an alive set to 127.0.0.1:port now and every second. */
  announceTo(port: number): void {
    if (this.b('ssdp.notify-alive')) return;
    const types = this.deviceTypes();
    const services = KEYS.map((k) => this.decl(k).serviceType);
    const set: [string, string][] = [['upnp:rootdevice', `${this.udn(1)}::upnp:rootdevice`]];
    types.forEach((t, i) => set.push([this.udn(i + 1), this.udn(i + 1)], [t, `${this.udn(i + 1)}::${t}`]));
    if (!this.b('ssdp.notify-set')) services.forEach((s, i) => set.push([s, `${this.udn(i + 1)}::${s}`]));
    const send = (nt: string, usn: string, nts: 'ssdp:alive' | 'ssdp:byebye') => {
      const lines = ['NOTIFY * HTTP/1.1', ...(nts === 'ssdp:byebye' && this.b('ssdp.notify-byebye') ? [] : ['HOST: 239.255.255.250:1900']),
        ...(nts === 'ssdp:alive' ? ['CACHE-CONTROL: max-age=1800', `LOCATION: ${this.url}`, ...(this.b('ssdp.notify-headers') ? [] : ['SERVER: Linux/6 UPnP/1.1 FakeIGD/1'])] : []),
        `NT: ${nt}`, `NTS: ${nts}`, `USN: ${usn}`, ...(nts === 'ssdp:alive' && this.b('ssdp.notify-bootid') ? [] : ['BOOTID.UPNP.ORG: 1', 'CONFIGID.UPNP.ORG: 1'])];
      this.udp?.send(`${lines.join('\r\n')}\r\n\r\n`, port, HOST);
    };
    const round = () => {
      for (const [nt, usn] of set) send(nt, usn, 'ssdp:byebye');
      for (const [nt, usn] of set) send(nt, usn, 'ssdp:alive');
      this.later(1000, round);
    };
    round();
  }

  private mSearch(text: string, from: RemoteInfo): void {
    if (!text.startsWith('M-SEARCH * HTTP/1.1')) return;
    const st = parseSsdpMessage(text).headers.st ?? '';
    const types = this.deviceTypes();
    const services = KEYS.map((k) => this.decl(k).serviceType);
    const serviceUdn = [1, 2, 3];
    const answers: [string, string][] = [];
    const rootUsn = `${this.udn(1)}::upnp:rootdevice`;
    if (st === 'ssdp:all') {
      answers.push(['upnp:rootdevice', rootUsn]);
      types.forEach((t, i) => answers.push([this.udn(i + 1), this.udn(i + 1)], [t, `${this.udn(i + 1)}::${t}`]));
      if (!this.b('ssdp.all')) services.forEach((s, i) => answers.push([s, `${this.udn(serviceUdn[i]!)}::${s}`]));
    } else if (st === 'upnp:rootdevice') {
      answers.push([st, rootUsn]);
    } else if (/^uuid:/.test(st) && !this.b('ssdp.uuid')) {
      for (let i = 1; i <= 3; i++) if (st === this.udn(i)) answers.push([st, st]);
    } else {
      const m = /^(urn:schemas-upnp-org:(?:device|service):\w+):(\d+)$/.exec(st);
      types.forEach((t, i) => {
        const [base, v] = [t.replace(/:\d+$/, ''), Number(t.split(':').pop())];
        const lower = this.b('ssdp.lower-version') ? Number(m?.[2]) === v : Number(m?.[2]) <= v;
        if (m && m[1] === base && lower) answers.push([st, this.b('ssdp.device-type') ? this.udn(i + 1) : `${this.udn(i + 1)}::${st}`]);
      });
      services.forEach((s, i) => {
        if (s === st && !this.b('ssdp.service-type')) answers.push([st, `${this.udn(serviceUdn[i]!)}::${st}`]);
      });
      if (answers.length === 0 && this.b('ssdp.unknown-st')) answers.push([st, `${this.udn(1)}::${st}`]);
    }
    const base = this.url.replace('rootDesc.xml', '');
    const location = st === 'upnp:rootdevice' && this.b('ssdp.rootdevice') ? `${base}other.xml` : this.url;
    const delay = st === 'ssdp:all' && this.b('ssdp.mx') ? 1600 : 5;
    for (const [ast, usn] of answers) {
      const lines = ['HTTP/1.1 200 OK', `CACHE-CONTROL: max-age=${this.b('ssdp.max-age') ? 120 : 1800}`, ...(this.b('ssdp.headers') ? [] : ['EXT:']),
        `LOCATION: ${location}`, 'SERVER: Linux/6 UPnP/1.1 FakeIGD/1', `ST: ${ast}`, `USN: ${usn}`,
        ...(this.b('ssdp.bootid') ? [] : ['BOOTID.UPNP.ORG: 1']), 'CONFIGID.UPNP.ORG: 1'];
      this.later(delay, () => this.udp?.send(`${lines.join('\r\n')}\r\n\r\n`, from.port, from.address));
    }
  }

  // ---- NAT-PMP and PCP ------------------------------------------------------------------

  private epoch(kind: 'natpmp' | 'pcp'): number {
    return this.b(`${kind}.epoch`) ? 7 : 7 + Math.floor((Date.now() - this.started) / 1000);
  }

  private pmpMessage(m: Buffer, from: RemoteInfo): void {
    if (m.length < 2) return;
    const send = (b: Buffer) => this.pmpSocket?.send(b, from.port, from.address);
    if (m[0] === 0) return send(this.natpmp(m, from));
    if (m[0] === 2) {
      const r = this.pcpAnswer(m, from);
      if (r) send(r);
      return;
    }
    if (m[0] === 1 && this.b('natpmp.unsupported-version')) return;
    if (m[0]! >= 3 && this.b('pcp.unsupp-version')) return;
    const r = Buffer.alloc(24);
    r[0] = 2;
    r[1] = 0x80 | (m[1]! & 0x7f);
    r[3] = 1; // UNSUPP_VERSION
    r.writeUInt32BE(this.epoch('pcp'), 8);
    send(r);
  }

  private natpmp(m: Buffer, from: RemoteInfo): Buffer {
    const op = m[1]!;
    const head = (len: number, result: number) => {
      const b = Buffer.alloc(len);
      b[1] = 128 + op;
      b.writeUInt16BE(result, 2);
      b.writeUInt32BE(this.epoch('natpmp'), 4);
      return b;
    };
    if (op === 0) {
      const b = head(12, 0);
      (this.b('natpmp.external-address') ? [1, 2, 3, 4] : EXTERNAL.split('.').map(Number)).forEach((x, i) => { b[8 + i] = x; });
      return b;
    }
    if ((op !== 1 && op !== 2) || m.length < 12) return head(8, op === 1 || op === 2 ? 3 : this.b('natpmp.unsupported-opcode') ? 3 : 5);
    const internal = m.readUInt16BE(4);
    const lifetime = m.readUInt32BE(8);
    const protocol = op === 1 ? 'UDP' : 'TCP';
    const mine = this.mappings.find((x) => x.origin === 'natpmp' && x.client === from.address && x.internalPort === internal && x.protocol === protocol);
    const b = head(16, 0);
    b.writeUInt16BE(internal, 8);
    if (lifetime === 0) {
      if (mine && !this.b('natpmp.delete')) this.mappings.splice(this.mappings.indexOf(mine), 1);
      b.writeUInt32BE(this.b('natpmp.delete') ? 120 : 0, 12);
      return b;
    }
    const ext = mine?.externalPort ?? this.freePort(m.readUInt16BE(6) || internal, protocol);
    if (!mine) this.hold({ remoteHost: '', externalPort: ext, protocol, internalPort: internal, client: from.address, enabled: true, description: 'NAT-PMP', expiresAt: Date.now() + lifetime * 1000, origin: 'natpmp' });
    b.writeUInt16BE(this.b('natpmp.map') ? internal + 1 : internal, 8);
    b.writeUInt16BE(ext, 10);
    b.writeUInt32BE(Math.min(lifetime, 3600), 12);
    return b;
  }

  private freePort(wanted: number, protocol: 'TCP' | 'UDP'): number {
    let p = wanted;
    for (let i = 0; i < 1000 && this.mappings.some((m) => m.externalPort === p && m.protocol === protocol); i++) p = p >= 65535 ? 1024 : p + 1;
    return p;
  }

  private pcpAnswer(m: Buffer, from: RemoteInfo): Buffer | undefined {
    if (m.length < 24 || m.length > 1100 || m.length % 4 !== 0 || (m[1]! & 0x80)) return undefined;
    const opcode = m[1]! & 0x7f;
    const data = opcode === 1 ? m.subarray(24, 60) : opcode === 2 ? m.subarray(24, 80) : Buffer.alloc(0);
    const answer = (result: number, lifetime: number, body: Buffer = data) => {
      const h = Buffer.alloc(24);
      h[0] = 2;
      h[1] = 0x80 | opcode;
      h[3] = this.b('pcp.announce') && opcode === 0 ? 2 : result;
      h.writeUInt32BE(lifetime, 4);
      h.writeUInt32BE(this.epoch('pcp'), 8);
      return Buffer.concat([h, body]);
    };
    const clientIp = m.subarray(8, 24);
    const mapped = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...from.address.split('.').map(Number)]);
    if (!clientIp.equals(mapped) && !this.b('pcp.address-mismatch')) return answer(12, 0); // ADDRESS_MISMATCH
    if (opcode === 0) return answer(0, 0);
    if (opcode !== 1) return answer(this.b('pcp.unsupp-opcode') ? 3 : 4, 0); // MALFORMED_REQUEST : UNSUPP_OPCODE
    if (m.length < 60) return answer(3, 0);
    for (let at = 60, n = 0; at + 4 <= m.length && n < 64; n++) {
      const code = m[at]!;
      if (code < 128 && ![1, 2, 3].includes(code) && !this.b('pcp.unsupp-option')) return answer(5, 0); // UNSUPP_OPTION
      at += 4 + Math.ceil(m.readUInt16BE(at + 2) / 4) * 4;
    }
    const nonce = m.subarray(24, 36).toString('hex');
    const protocol = m[36] === 17 ? 'UDP' : 'TCP';
    const internal = m.readUInt16BE(40);
    const lifetime = m.readUInt32BE(4);
    const mine = this.mappings.find((x) => x.origin === 'pcp' && x.client === from.address && x.internalPort === internal && x.protocol === protocol);
    if (mine && mine.nonce !== nonce && !this.b('pcp.nonce')) return answer(2, 0); // NOT_AUTHORIZED
    const body = Buffer.from(data);
    if (this.b('pcp.map')) body.fill(0, 0, 12);
    if (lifetime === 0) {
      if (mine && !this.b('pcp.delete')) this.mappings.splice(this.mappings.indexOf(mine), 1);
      return answer(0, this.b('pcp.delete') ? 120 : 0, body);
    }
    const ext = mine?.externalPort ?? this.freePort(m.readUInt16BE(42) || internal, protocol);
    if (!mine) this.hold({ remoteHost: '', externalPort: ext, protocol, internalPort: internal, client: from.address, enabled: true, description: 'PCP', expiresAt: Date.now() + lifetime * 1000, origin: 'pcp', nonce });
    body.writeUInt16BE(ext, 18);
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...EXTERNAL.split('.').map(Number)]).copy(body, 20);
    return answer(0, Math.min(lifetime, 3600), body);
  }
}

function escape(s: string): string {
  return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}

/**
 * One request from the bytes so far: null while the head is incomplete, 'bad' for a
 * malformed one; `used` 0 while the body is incomplete; `chunked` when its body is.
 */
function parseRequest(buf: Buffer): { request: Request; used: number; chunked: boolean } | 'bad' | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > 16384 ? 'bad' : null;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const line = /^([A-Z-]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (!line) return 'bad';
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return 'bad';
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = buf.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const d = dechunk(rest);
    if (typeof d === 'string') return 'bad';
    const request = { method: line[1]!, path: line[2]!, headers, body: d === null ? '' : d.body.toString('utf8') };
    return { request, used: d === null ? 0 : end + 4 + d.used, chunked: true };
  }
  const length = Number(headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0) return 'bad';
  const request = { method: line[1]!, path: line[2]!, headers, body: rest.subarray(0, length).toString('utf8') };
  return { request, used: rest.length < length ? 0 : end + 4 + length, chunked: false };
}
