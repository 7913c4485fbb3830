/**
 * What a run knows: the options it was given, what earlier checks learnt about the device
 * (its description, services, SCPDs, version, our own address as it sees us), the client
 * calls every check uses (SOAP with its exchange recorded), and the mappings this run made,
 * so that they, and only they, are removed at the end.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { httpExchange, httpRequestBytes, type HttpResponse } from './http-client.js';
import { parseSoapResponse, soapActionHeader, soapEnvelope, type SoapCall, type SoapOutcome } from './soap-client.js';
import { PCP, decodeClientResponse, encodeClientRequest, pcpRequest, type ClientResponse } from './pcp-client.js';
import { decodeNatPmpResponse, natPmpMapRequest, type NatPmpResponse } from './natpmp-client.js';
import type { XmlElement } from './xml.js';
import { EventSink } from './event-sink.js';
import type { SsdpAnswer, SsdpNotify } from './ssdp-client.js';
import { fail, skip, type Trace } from './registry.js';
import type { ProbeAgentClient } from './probe-agent.js';

export interface ConformanceOptions {
  /** The root device description URL. */
  readonly url: string;
  /** External ports this run may use, inclusive; it touches no others. */
  readonly ports: { readonly first: number; readonly last: number };
  /** Where M-SEARCH goes: the SSDP multicast group by default, or one device (unicast). */
  readonly ssdpTarget: { readonly address: string; readonly port: number };
  /** Local address to send multicast from (the LAN interface's). */
  readonly ssdpInterface?: string;
  /** NAT-PMP / PCP server; default the description URL's host, port 5351. */
  readonly pmpTarget?: { readonly address: string; readonly port: number };
  /** The short lease (seconds) that must expire. */
  readonly shortLeaseSeconds: number;
  /** Per request. */
  readonly timeoutMs: number;
  /** Only checks whose id starts with one of these (all when empty). */
  readonly only?: readonly string[];
  /** The probe agent on the WAN side (data-plane checks); they are skipped without it. */
  readonly wanProbe?: { readonly address: string; readonly port: number };
  /**
   * How long the run listens for NOTIFY (ssdp.notify-* checks), seconds, given by one who
   * knows the device announces at least that often: silence in it is then a failure.
   * Without it the run listens a few seconds and silence only skips.
   */
  readonly notifyWaitSeconds?: number;
  /** Where NOTIFYs are listened for: the SSDP group on `ssdpInterface` (or our address) by default; tests give a unicast port. */
  readonly notifyListen?: { readonly address: string; readonly port: number };
}

export type ServiceKey = 'wanIpConnection' | 'wanCommonInterfaceConfig' | 'layer3Forwarding';

export interface FoundService {
  readonly key: ServiceKey;
  readonly serviceType: string;
  readonly serviceId: string;
  readonly version: number;
  readonly scpdUrl: string;
  readonly controlUrl: string;
  readonly eventUrl: string;
  scpd?: XmlElement;
}

export type OwnMapping =
  | { readonly via: 'upnp'; readonly remoteHost: string; readonly externalPort: number; readonly protocol: 'TCP' | 'UDP' }
  | { readonly via: 'pcp'; readonly nonce: Buffer; readonly protocol: number; readonly internalPort: number }
  | { readonly via: 'natpmp'; readonly opcode: 1 | 2; readonly internalPort: number };

/** A SOAP exchange: the HTTP response as received (or why there is none) and how it reads. */
export interface SoapExchange {
  readonly response: HttpResponse | string;
  readonly outcome: SoapOutcome;
}

export class RunContext {
  /** The IGD version, from the root device type. */
  version: 1 | 2 = 1;
  description?: XmlElement;
  descriptionText = '';
  /** Our address as the device sees us (the local end of a TCP connection to it). */
  localAddress = '';
  readonly services = new Map<ServiceKey, FoundService>();
  /** Every UDN and device type of the tree, root first. */
  readonly devices: { udn: string; deviceType: string }[] = [];
  readonly serviceTypes: string[] = [];
  externalAddress = '';
  /** The external port of the mapping soap.add made (for the listing checks). */
  sample?: number;
  private nextPort: number;
  readonly own = new Map<string, OwnMapping>();
  /** Content-Type of every description, SCPD and SOAP answer seen. */
  readonly contentTypes: { what: string; value: string | undefined }[] = [];
  /** The NOTIFY listener, and the subscription gena.subscribe made. */
  readonly events = new EventSink();
  sid?: string;
  /** Whether NAT-PMP / PCP answer at all (asked once). */
  natpmpAnswers?: Promise<boolean>;
  pcpAnswers?: Promise<boolean>;
  /** The mapping pcp.map made. */
  pcpMapping?: { readonly nonce: Buffer; readonly port: number; readonly externalPort: number };
  /** The NOTIFYs heard while the run went on (ssdp.notify-* checks). */
  notifies?: Promise<{ readonly notifies: SsdpNotify[]; readonly listenedMs: number; readonly error?: string }>;
  /** The control connection to the WAN-side probe agent (data-plane checks). */
  probeAgent?: Promise<ProbeAgentClient>;
  /** The M-SEARCH answers of the run, by target key (ssdp checks). */
  ssdp?: Promise<Record<string, { readonly sent: string; readonly answers: SsdpAnswer[] }>>;

  constructor(readonly options: ConformanceOptions) {
    this.nextPort = options.ports.first;
  }

  get baseUrl(): URL {
    return new URL(this.options.url);
  }

  get pmpTarget(): { address: string; port: number } {
    return this.options.pmpTarget ?? { address: this.baseUrl.hostname, port: PCP.serverPort };
  }

  /** A fresh external port of our range; skips the check when the range is used up. */
  port(): number {
    if (this.nextPort > this.options.ports.last) skip(`the port range ${this.options.ports.first}-${this.options.ports.last} is used up`);
    return this.nextPort++;
  }

  /** The service, or a skip naming what is missing. */
  service(key: ServiceKey): FoundService {
    const s = this.services.get(key);
    if (!s) skip(`no ${key} service found in the description`);
    return s;
  }

  /** Another address of our LAN (ours ± 1 in the last octet), for mappings "of another client". */
  otherLanAddress(): string {
    const parts = this.localAddress.split('.').map(Number);
    if (parts.length !== 4) skip('our own IPv4 address is unknown');
    parts[3] = parts[3]! >= 250 ? parts[3]! - 1 : parts[3]! + 1;
    return parts.join('.');
  }

  /** Posts one action to a service's control URL; the exchange goes on the trace. */
  async soap(t: Trace, key: ServiceKey, action: string, args: readonly (readonly [string, string])[], opts: { serviceType?: string } = {}): Promise<SoapExchange> {
    const s = this.service(key);
    const call: SoapCall = { serviceType: opts.serviceType ?? s.serviceType, action, args };
    return this.soapRaw(t, s.controlUrl, call, soapEnvelope(call));
  }

  /** Posts a given body (possibly malformed on purpose) as `call`'s action. */
  async soapRaw(t: Trace, controlUrl: string, call: SoapCall, body: string): Promise<SoapExchange> {
    const url = new URL(controlUrl);
    const request = httpRequestBytes('POST', `${url.pathname}${url.search}`, [
      ['HOST', url.host], ['CONTENT-TYPE', 'text/xml; charset="utf-8"'], ['CONTENT-LENGTH', String(Buffer.byteLength(body))],
      ['SOAPACTION', soapActionHeader(call)], ['CONNECTION', 'close'],
    ], body);
    const response = await httpExchange(url, request, this.options.timeoutMs);
    const outcome: SoapOutcome = typeof response === 'string'
      ? { ok: false, kind: 'network', status: null, reason: response }
      : parseSoapResponse(call.action, response.status, response.body.toString('utf8'));
    if (typeof response !== 'string' && response.status === 200) this.contentTypes.push({ what: `${call.action} answer`, value: response.headers['content-type'] });
    t.record(`${call.action}(${call.args.map(([k, v]) => `${k}=${v}`).join(', ')})`, describeOutcome(outcome));
    return { response, outcome };
  }

  /** Calls an action that must succeed; fails the check otherwise. */
  async soapOk(t: Trace, key: ServiceKey, action: string, args: readonly (readonly [string, string])[]): Promise<Readonly<Record<string, string>>> {
    const { outcome } = await this.soap(t, key, action, args);
    if (!outcome.ok) fail(`${action} failed: ${describeOutcome(outcome)}`);
    return outcome.values;
  }

  /** AddPortMapping of our own address; remembered for the cleanup when it succeeds. */
  async addMapping(t: Trace, m: { externalPort: number; protocol?: 'TCP' | 'UDP'; internalPort?: number; client?: string; remoteHost?: string;
    enabled?: boolean; description?: string; lease?: number; action?: 'AddPortMapping' | 'AddAnyPortMapping' }): Promise<SoapExchange> {
    const protocol = m.protocol ?? 'TCP';
    const remoteHost = m.remoteHost ?? '';
    const action = m.action ?? 'AddPortMapping';
    const r = await this.soap(t, 'wanIpConnection', action, [
      ['NewRemoteHost', remoteHost], ['NewExternalPort', String(m.externalPort)], ['NewProtocol', protocol],
      ['NewInternalPort', String(m.internalPort ?? m.externalPort)], ['NewInternalClient', m.client ?? this.localAddress],
      ['NewEnabled', m.enabled === false ? '0' : '1'], ['NewPortMappingDescription', m.description ?? 'openigd-conformance'],
      ['NewLeaseDuration', String(m.lease ?? 0)],
    ]);
    if (r.outcome.ok) {
      const port = action === 'AddAnyPortMapping' ? Number(r.outcome.values.NewReservedPort) : m.externalPort;
      if (Number.isInteger(port)) this.own.set(`upnp ${remoteHost} ${port} ${protocol}`, { via: 'upnp', remoteHost, externalPort: port, protocol });
    }
    return r;
  }

  /** AddPortMapping (or AddAnyPortMapping) that must succeed; fails the check otherwise. */
  async addOk(t: Trace, m: Parameters<RunContext['addMapping']>[1]): Promise<Readonly<Record<string, string>>> {
    const { outcome } = await this.addMapping(t, m);
    if (!outcome.ok) fail(`${m.action ?? 'AddPortMapping'} (external port ${m.externalPort}, lease ${m.lease ?? 0}): ${describeOutcome(outcome)}`);
    return outcome.values;
  }

  async deleteMapping(t: Trace, externalPort: number, protocol: 'TCP' | 'UDP' = 'TCP', remoteHost = ''): Promise<SoapExchange> {
    const r = await this.soap(t, 'wanIpConnection', 'DeletePortMapping',
      [['NewRemoteHost', remoteHost], ['NewExternalPort', String(externalPort)], ['NewProtocol', protocol]]);
    if (r.outcome.ok) this.own.delete(`upnp ${remoteHost} ${externalPort} ${protocol}`);
    return r;
  }

  async getSpecific(t: Trace, externalPort: number, protocol: 'TCP' | 'UDP' = 'TCP', remoteHost = ''): Promise<SoapExchange> {
    return this.soap(t, 'wanIpConnection', 'GetSpecificPortMappingEntry',
      [['NewRemoteHost', remoteHost], ['NewExternalPort', String(externalPort)], ['NewProtocol', protocol]]);
  }

  /**
   * Sends one datagram to the NAT-PMP/PCP server and waits for one answer (three tries);
   * undefined when none came. Each request has a socket of its own, so that a late answer
   * to an earlier request is never taken for this one's.
   */
  async pmpAsk(t: Trace, label: string, packet: Buffer): Promise<Buffer | undefined> {
    const socket = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, () => { socket.off('error', reject); resolve(); }); });
      const tryMs = Math.min(1000, this.options.timeoutMs);
      for (let i = 0; i < 3; i++) {
        const answer = await pcpRequest(socket, this.pmpTarget, packet, tryMs).catch(() => undefined);
        if (answer) {
          t.record(`${label}: ${packet.toString('hex')}`, answer.toString('hex'));
          return answer;
        }
      }
      t.record(`${label}: ${packet.toString('hex')}`, `no answer in 3 × ${tryMs} ms`);
      return undefined;
    } finally {
      socket.close();
    }
  }

  /** A PCP request that must be answered with a decodable response. */
  async pcp(t: Trace, label: string, packet: Buffer): Promise<ClientResponse> {
    const answer = await this.pmpAsk(t, label, packet);
    if (!answer) fail(`no PCP answer to ${label}`);
    try {
      return decodeClientResponse(answer);
    } catch (e) {
      fail(`undecodable PCP answer: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** A NAT-PMP request that must be answered with a decodable response. */
  async natpmp(t: Trace, label: string, packet: Buffer): Promise<NatPmpResponse> {
    const answer = await this.pmpAsk(t, label, packet);
    if (!answer) fail(`no NAT-PMP answer to ${label}`);
    const r = decodeNatPmpResponse(answer);
    if (typeof r === 'string') fail(`undecodable NAT-PMP answer: ${r}`);
    return r;
  }

  /** A PCP MAP of our own (remembered for the cleanup on success). */
  async pcpMap(t: Trace, internalPort: number, lifetime: number, opts: { nonce?: Buffer; protocol?: number; externalPort?: number; clientIp?: string } = {}): Promise<ClientResponse> {
    const nonce = opts.nonce ?? randomBytes(12);
    const protocol = opts.protocol ?? 6;
    const r = await this.pcp(t, `MAP ${internalPort}`, encodeClientRequest({
      opcode: 'map', lifetime, clientIp: opts.clientIp ?? this.localAddress,
      map: { nonce, protocol, internalPort, externalPort: opts.externalPort ?? internalPort, externalIp: '' },
    }));
    const key = `pcp ${protocol} ${internalPort}`;
    if (r.result === PCP.result.SUCCESS && lifetime > 0) this.own.set(key, { via: 'pcp', nonce, protocol, internalPort });
    if (r.result === PCP.result.SUCCESS && lifetime === 0) this.own.delete(key);
    return r;
  }

  /** A NAT-PMP mapping request of our own (remembered for the cleanup on success). */
  async natpmpMap(t: Trace, opcode: 1 | 2, internalPort: number, externalPort: number, lifetime: number): Promise<NatPmpResponse> {
    const r = await this.natpmp(t, `map op ${opcode} ${internalPort}`, natPmpMapRequest(opcode, internalPort, externalPort, lifetime));
    const key = `natpmp ${opcode} ${internalPort}`;
    if (r.result === 0 && lifetime > 0) this.own.set(key, { via: 'natpmp', opcode, internalPort });
    if (r.result === 0 && lifetime === 0) this.own.delete(key);
    return r;
  }

  /** Removes every mapping this run made; what could not be removed is returned. */
  async removeOwnMappings(t: Trace): Promise<string[]> {
    const left: string[] = [];
    for (const [key, m] of [...this.own]) {
      try {
        if (m.via === 'upnp') {
          const r = await this.deleteMapping(t, m.externalPort, m.protocol, m.remoteHost);
          // 714: it is gone already (expired, or deleted by a range delete).
          if (!r.outcome.ok && !(r.outcome.kind === 'fault' && r.outcome.errorCode === 714)) left.push(key);
          this.own.delete(key);
        } else if (m.via === 'pcp') {
          await this.pcpMap(t, m.internalPort, 0, { nonce: m.nonce, protocol: m.protocol });
        } else {
          await this.natpmpMap(t, m.opcode, m.internalPort, 0, 0);
        }
      } catch (e) {
        left.push(`${key}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (this.own.has(key)) {
        left.push(key);
        this.own.delete(key);
      }
    }
    return [...new Set(left)];
  }

  close(): void {
    this.events.close();
    void this.probeAgent?.then((c) => c.close(), () => undefined);
  }
}

/** One line for a SOAP outcome. */
export function describeOutcome(o: SoapOutcome): string {
  if (o.ok) return `HTTP ${o.status}: ${Object.entries(o.values).map(([k, v]) => `${k}=${v}`).join(', ') || '(no values)'}`;
  if (o.kind === 'fault') return `HTTP ${o.status}: UPnPError ${o.errorCode} ${o.errorDescription}`;
  return `${o.kind}${o.status === null ? '' : ` ${o.status}`}: ${o.reason}`;
}

/** The UPnP error code of an outcome, or undefined when it is not a fault. */
export function faultCode(o: SoapOutcome): number | undefined {
  return !o.ok && o.kind === 'fault' ? o.errorCode : undefined;
}

/** Fails unless the outcome is the fault `code` (one of `codes`). */
export function expectFault(o: SoapOutcome, codes: number | readonly number[], what: string): void {
  const want = typeof codes === 'number' ? [codes] : codes;
  const got = faultCode(o);
  if (got === undefined || !want.includes(got)) fail(`${what}: expected UPnPError ${want.join(' or ')}, got ${describeOutcome(o)}`);
}
