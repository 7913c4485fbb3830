/**
 * The UPnP SOAP client shared by `openigd conformance`, the IGD benchmark and the tests: builds the exact envelope of an IGD:1
 * WANIPConnection action (AddPortMapping, GetGenericPortMappingEntry, DeletePortMapping,
 * GetExternalIPAddress), posts it (quoted `SOAPACTION` header) over a connection of its own
 * as upnpc does, or through `node:http` with a keep-alive agent, and reads the answer back
 * as named values or a UPnP fault. It also finds the WANIPConnection control URL in a
 * device description. Written from UDA 1.0 §3.2 alone: it imports nothing of the server.
 *
 * It must not throw on a bad answer: a fault, an HTTP error, a network error or a
 * timeout is returned as a `SoapOutcome` with its reason. The response reader is a
 * lenient extractor for the few flat values these actions return, not a general XML
 * parser; it never evaluates DTDs or entities beyond the five predefined ones.
 */
import { request, type Agent } from 'node:http';
import { connect } from 'node:net';
import { readHttpResponse } from './http-client.js';

export const SOAP_ENVELOPE_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP_ENCODING = 'http://schemas.xmlsoap.org/soap/encoding/';
export const WAN_IP_CONNECTION_1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';

/** UPnP error code of GetGenericPortMappingEntry past the last entry (IGD:1 §2.4.14). */
export const SPECIFIED_ARRAY_INDEX_INVALID = 713;

/** Escapes the five XML special characters in text or attribute content. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The inverse of `escapeXml` plus numeric character references; anything else is left as written. */
export function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (whole, name: string) => {
    switch (name) {
      case 'amp': return '&';
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    const code = name.startsWith('#x') ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** One SOAP action call: the service type, the action name and its in-arguments in order. */
export interface SoapCall {
  readonly serviceType: string;
  readonly action: string;
  readonly args: readonly (readonly [name: string, value: string])[];
}

/** The exact request body: XML declaration, `s:` envelope with encodingStyle, `u:` action element. */
export function soapEnvelope(call: SoapCall): string {
  const args = call.args.map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join('');
  return '<?xml version="1.0"?>\r\n'
    + `<s:Envelope xmlns:s="${SOAP_ENVELOPE_NS}" s:encodingStyle="${SOAP_ENCODING}">`
    + `<s:Body><u:${call.action} xmlns:u="${escapeXml(call.serviceType)}">${args}</u:${call.action}></s:Body>`
    + '</s:Envelope>\r\n';
}

/** The `SOAPACTION` header value: the quoted `serviceType#action` (UDA 1.0 §3.2.1). */
export function soapActionHeader(call: SoapCall): string {
  return `"${call.serviceType}#${call.action}"`;
}

export interface PortMapping {
  /** Empty for any remote host. */
  readonly remoteHost: string;
  readonly externalPort: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly internalPort: number;
  readonly internalClient: string;
  readonly enabled: boolean;
  readonly description: string;
  readonly leaseSeconds: number;
}

export function addPortMappingCall(serviceType: string, m: PortMapping): SoapCall {
  return {
    serviceType,
    action: 'AddPortMapping',
    args: [
      ['NewRemoteHost', m.remoteHost],
      ['NewExternalPort', String(m.externalPort)],
      ['NewProtocol', m.protocol],
      ['NewInternalPort', String(m.internalPort)],
      ['NewInternalClient', m.internalClient],
      ['NewEnabled', m.enabled ? '1' : '0'],
      ['NewPortMappingDescription', m.description],
      ['NewLeaseDuration', String(m.leaseSeconds)],
    ],
  };
}

export function getGenericPortMappingEntryCall(serviceType: string, index: number): SoapCall {
  return { serviceType, action: 'GetGenericPortMappingEntry', args: [['NewPortMappingIndex', String(index)]] };
}

export function deletePortMappingCall(serviceType: string, remoteHost: string, externalPort: number, protocol: 'TCP' | 'UDP'): SoapCall {
  return {
    serviceType,
    action: 'DeletePortMapping',
    args: [['NewRemoteHost', remoteHost], ['NewExternalPort', String(externalPort)], ['NewProtocol', protocol]],
  };
}

export function getExternalIpAddressCall(serviceType: string): SoapCall {
  return { serviceType, action: 'GetExternalIPAddress', args: [] };
}

/** What one call came to. `values` holds the out-arguments of a success by name. */
export type SoapOutcome =
  | { readonly ok: true; readonly status: number; readonly values: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly kind: 'fault'; readonly status: number; readonly errorCode: number; readonly errorDescription: string }
  | { readonly ok: false; readonly kind: 'http' | 'network' | 'timeout'; readonly status: number | null; readonly reason: string };

/** Local name of an element name (`u:Foo` → `Foo`). */
function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}

/**
 * The leaf elements (no child elements) directly or deeply inside the first element whose
 * local name is `container`, by local name, text unescaped. Null if there is no such element.
 */
export function leafValues(xml: string, container: string): Record<string, string> | null {
  const open = new RegExp(`<([A-Za-z_][\\w.-]*:)?${container}(\\s[^>]*)?>`).exec(xml);
  if (!open) return null;
  const close = xml.indexOf(`</${open[1] ?? ''}${container}>`, open.index + open[0].length);
  const inner = xml.slice(open.index + open[0].length, close < 0 ? xml.length : close);
  const values: Record<string, string> = {};
  const leaf = /<([A-Za-z_][\w.:-]*)(\s[^>]*)?>([^<]*)<\/\1\s*>|<([A-Za-z_][\w.:-]*)(\s[^>]*)?\/>/g;
  for (let m = leaf.exec(inner), n = 0; m !== null && n < 1000; m = leaf.exec(inner), n++) {
    if (m[1] !== undefined) values[localName(m[1])] = unescapeXml(m[3] ?? '');
    else if (m[4] !== undefined) values[localName(m[4])] = '';
  }
  return values;
}

/** Reads an HTTP status and body as the answer to `action`: its `…Response` values, or a UPnP fault. */
export function parseSoapResponse(action: string, status: number, body: string): SoapOutcome {
  if (status === 200) {
    const values = leafValues(body, `${action}Response`);
    if (values === null) return { ok: false, kind: 'http', status, reason: `200 without <${action}Response>: ${body.slice(0, 120)}` };
    return { ok: true, status, values };
  }
  const detail = leafValues(body, 'UPnPError');
  const code = detail?.errorCode !== undefined ? Number(detail.errorCode.trim()) : NaN;
  if (detail && Number.isInteger(code)) {
    return { ok: false, kind: 'fault', status, errorCode: code, errorDescription: detail.errorDescription ?? '' };
  }
  return { ok: false, kind: 'http', status, reason: `HTTP ${status}: ${body.slice(0, 120)}` };
}

export interface PostOptions {
  /** A keep-alive agent to reuse connections, or undefined for a new connection per call. */
  readonly agent?: Agent;
  readonly timeoutMs?: number;
}

/** Largest response body read; a longer one is cut off and reported. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * Posts `call` to `controlUrl` (an `http:` URL) and resolves with its outcome; never rejects.
 * Without an agent the request says `Connection: close` and goes over a socket of its own
 * (`postSoapOnce`); with one, through node:http and the agent's kept-alive connections.
 */
export function postSoap(controlUrl: string, call: SoapCall, opts: PostOptions = {}): Promise<SoapOutcome> {
  let url: URL;
  try {
    url = new URL(controlUrl);
  } catch {
    return Promise.resolve({ ok: false, kind: 'network', status: null, reason: `bad control URL ${JSON.stringify(controlUrl)}` });
  }
  if (url.protocol !== 'http:') return Promise.resolve({ ok: false, kind: 'network', status: null, reason: `not an http: URL: ${controlUrl}` });
  const body = Buffer.from(soapEnvelope(call), 'utf8');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (!opts.agent) return postSoapOnce(url, call, body, timeoutMs);
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: SoapOutcome) => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    const req = request({
      host: url.hostname,
      port: url.port === '' ? 80 : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      agent: opts.agent ?? false,
      headers: {
        'HOST': url.host,
        'CONTENT-TYPE': 'text/xml; charset="utf-8"',
        'CONTENT-LENGTH': String(body.length),
        'SOAPACTION': soapActionHeader(call),
        ...(opts.agent ? {} : { CONNECTION: 'close' }),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
      });
      res.on('error', (e) => done({ ok: false, kind: 'network', status: res.statusCode ?? null, reason: e.message }));
      res.on('end', () => {
        if (size > MAX_BODY_BYTES) {
          done({ ok: false, kind: 'http', status: res.statusCode ?? null, reason: `response body over ${MAX_BODY_BYTES} bytes` });
          return;
        }
        done(parseSoapResponse(call.action, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      });
    });
    req.setTimeout(timeoutMs, () => {
      done({ ok: false, kind: 'timeout', status: null, reason: `no answer within ${timeoutMs} ms` });
      req.destroy();
    });
    req.on('error', (e) => done({ ok: false, kind: 'network', status: null, reason: e.message }));
    req.end(body);
  });
}

/** The request head and body of `call` as miniupnpc writes them, in one buffer (one write). */
function rawRequest(url: URL, call: SoapCall, body: Buffer): Buffer {
  const head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHOST: ${url.host}\r\nCONTENT-TYPE: text/xml; charset="utf-8"\r\n`
    + `CONTENT-LENGTH: ${body.length}\r\nSOAPACTION: ${soapActionHeader(call)}\r\nCONNECTION: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/**
 * One call over a TCP connection of its own, as miniupnpc (upnpc) makes it: connect, one
 * write of head and body, read until the response is complete (Content-Length, chunked,
 * or the server's close), close. Far less client work per call than node:http, so that
 * a benchmark of the IGD measures the IGD. Never rejects.
 */
function postSoapOnce(url: URL, call: SoapCall, body: Buffer, timeoutMs: number): Promise<SoapOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: url.port === '' ? 80 : Number(url.port), noDelay: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (o: SoapOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const check = (ended: boolean) => {
      if (size > MAX_BODY_BYTES) {
        done({ ok: false, kind: 'http', status: null, reason: `response over ${MAX_BODY_BYTES} bytes` });
        return;
      }
      const r = readHttpResponse(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), ended);
      if (typeof r === 'string') done({ ok: false, kind: 'network', status: null, reason: r });
      else if (r !== null) done(parseSoapResponse(call.action, r.response.status, r.response.body.toString('utf8')));
    };
    const timer = setTimeout(() => done({ ok: false, kind: 'timeout', status: null, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      check(false);
    });
    socket.on('end', () => check(true));
    socket.on('close', () => check(true));
    socket.on('error', (e) => done({ ok: false, kind: 'network', status: null, reason: e.message }));
    socket.write(rawRequest(url, call, body));
  });
}

/** Fetches a URL with GET and resolves with status and body, or a reason; never rejects. */
export function httpGet(target: string, timeoutMs = 5_000): Promise<{ ok: true; status: number; body: string } | { ok: false; reason: string }> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.resolve({ ok: false, reason: `bad URL ${JSON.stringify(target)}` });
  }
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { ok: true; status: number; body: string } | { ok: false; reason: string }) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const req = request({ host: url.hostname, port: url.port === '' ? 80 : Number(url.port), path: `${url.pathname}${url.search}`, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
      });
      res.on('error', (e) => done({ ok: false, reason: e.message }));
      res.on('end', () => done({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => {
      done({ ok: false, reason: `no answer within ${timeoutMs} ms` });
      req.destroy();
    });
    req.on('error', (e) => done({ ok: false, reason: e.message }));
    req.end();
  });
}

export interface ControlPoint {
  readonly serviceType: string;
  readonly controlUrl: string;
}

/**
 * Finds the WANIPConnection service (any version) in a device description and resolves
 * its control URL against `URLBase` if the description has one, else against the URL the
 * description came from. Returns a reason when there is none.
 */
export function findWanIpConnection(descriptionXml: string, descriptionUrl: string): { ok: true; control: ControlPoint } | { ok: false; reason: string } {
  const services = descriptionXml.match(/<([\w.-]+:)?service(\s[^>]*)?>[\s\S]*?<\/([\w.-]+:)?service>/g) ?? [];
  for (const block of services) {
    const v = leafValues(block, 'service');
    const type = v?.serviceType?.trim();
    if (!type || !/^urn:schemas-upnp-org:service:WANIPConnection:\d+$/.test(type)) continue;
    const control = v?.controlURL?.trim();
    if (!control) return { ok: false, reason: `${type} has no controlURL` };
    const base = /<([\w.-]+:)?URLBase>([^<]*)</.exec(descriptionXml)?.[2]?.trim();
    try {
      return { ok: true, control: { serviceType: type, controlUrl: new URL(control, base || descriptionUrl).href } };
    } catch {
      return { ok: false, reason: `cannot resolve controlURL ${JSON.stringify(control)}` };
    }
  }
  return { ok: false, reason: `no WANIPConnection service in ${descriptionUrl} (${services.length} services)` };
}
