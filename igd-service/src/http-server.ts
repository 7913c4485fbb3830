/**
 * The IGD's HTTP server (Express on node:http): the description, the SCPDs, SOAP control and
 * GENA event subscription, on one address and port (the gateway's LAN address on its local
 * port; tests use 127.0.0.1:0).
 *
 *   GET  /rootDesc.xml              description.ts (built once at start, per version: a
 *                                   Microsoft client of an IGD:2 gateway gets IGD:1's)
 *   GET  <SCPDURL>                  scpd.ts (the same choice of version)
 *   POST <controlURL>               raw body (≤ bodyLimitBytes, else 413) → soap.ts parse
 *                                   (malformed → 400, SOAPACTION mismatch → fault 401) →
 *                                   QueryStateVariable (query-state-variable.ts) or
 *                                   actions.ts dispatch in the version the service type
 *                                   names → response 200 (in that service type) or fault 500
 *   SUBSCRIBE / UNSUBSCRIBE <eventSubURL>  gena.ts (Node's parser accepts these methods;
 *                                   Express routes them through app.all + a method check)
 *
 * The UPnP GET and POST routes above run as plain node:http handlers, looked up in a Map by
 * method and path (any letter case, one trailing slash allowed, as Express would match them)
 * before Express is entered; Express serves everything else (GENA, the mounted pages, 404, 405).
 * Every UPnP answer is written with res.writeHead (exact Content-Type, EXT, SERVER). Slow
 * clients are cut off by the headers / request timeouts; connections are bounded. The IGD's
 * evented-variable changes are published to GENA subscribers.
 * Must not: parse JSON or any body outside the control URLs, let an exception escape a request
 * (it becomes 500 / fault 501), or keep the process alive after close().
 */
import { SourceBuckets, type SourceRate } from './source-buckets.js';
import { STATUS_CODES, createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { dispatchSoapRequest } from './actions.js';
import type { ActionDispatchResult } from './actions.js';
import { IGD_SERVICE_KEYS, UPNP_CONTROL_NAMESPACE, requestedServiceVersion, serviceDeclaration } from './declaration.js';
import type { IgdServiceKey, IgdVersion } from './declaration.js';
import { ROOT_DESCRIPTION_PATH, buildRootDescription, describedVersion } from './description.js';
import type { DeviceInfo } from './device-info.js';
import { resolveDeviceInfo } from './device-info.js';
import type { ActionFailureReason } from './faults.js';
import { UPNP_ERROR, upnpErrorFor } from './faults.js';
import { GenaPublisher, stripIpv4MappedPrefix } from './gena.js';
import type { GenaComponents, GenaOptions } from './gena.js';
import type { Igd } from './igd.js';
import { isQueryStateVariable, queryStateVariable } from './query-state-variable.js';
import { buildScpd } from './scpd.js';
import { ssdpServerString } from './ssdp.js';
import { buildSoapFault, buildSoapResponse, parseSoapRequest, upnpXmlHeaders, writeUpnpXml } from './soap.js';
import { readQuickRequest, type QuickRequest } from './quick-request.js';
import type { SoapRequest } from './soap.js';

export interface IgdHttpServerOptions {
  /** Address to listen on (the gateway's LAN address; 127.0.0.1 in tests). */
  readonly host: string;
  /** Port; 0 = any free one. */
  readonly port: number;
  /** Root device uuid (device-identity.ts): the UDNs of the description derive from it. */
  readonly rootUuid: string;
  readonly deviceInfo?: Partial<DeviceInfo>;
  /** SERVER header. Default ssdpServerString(): the same `OS/version UPnP/1.1 OpenIGD/0.1` SSDP sends. */
  readonly server?: string;
  /** URLBase to put in the description (none by default: URLs are relative to it). */
  readonly urlBase?: string;
  /** The IGD version served (`igd.version`). Default 1. */
  readonly igdVersion?: IgdVersion;
  /** Largest control request body, bytes; larger → 413. Default 16 KiB. */
  readonly bodyLimitBytes?: number;
  /** Time to receive a request's headers, ms. Default 10 000. */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request, ms. Default 30 000. */
  readonly requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this, ms. Default 5 000. */
  readonly keepAliveTimeoutMs?: number;
  /** Most open connections. Default 128. */
  readonly maxConnections?: number;
  /**
   * Requests per source address (a token bucket each); past it a request is answered 503
   * with `Retry-After: 1` and counted. Default: no limit.
   */
  readonly requestRatePerSource?: SourceRate;
  /** GENA bounds (the SERVER header is this server's). */
  readonly gena?: Omit<GenaOptions, 'server'>;
  /** How often expired subscriptions are swept, ms. Default 30 000. */
  readonly genaSweepIntervalMs?: number;
}

/** One control request's outcome, for logs and metrics. */
export interface IgdActionRecord {
  readonly service: IgdServiceKey;
  readonly action: string;
  readonly client: string;
  readonly ok: boolean;
  readonly reason?: ActionFailureReason | 'malformed';
  readonly code?: number;
  readonly detail?: string;
}

export interface IgdHttpServerComponents {
  readonly igd: Igd;
  readonly gena?: GenaComponents;
  /** Told about every control request, after it was answered. */
  readonly onAction?: (record: IgdActionRecord) => void;
  /** Mounts more routes (e.g. the admin page at '/') before the 404 fallback. */
  readonly mount?: (app: Express) => void;
}

export interface IgdHttpServer {
  /**
   * Serves a connection that did not come through the listening socket: a stream with
   * net.Socket's addresses (`remoteAddress` …) and `setTimeout`, such as the gateway's
   * userspace TCP endpoint makes. It is answered exactly as an accepted socket is.
   */
  accept(connection: AcceptedConnection): void;
  /** `http://host:port` */
  readonly url: string;
  /** The LOCATION SSDP announces. */
  readonly descriptionUrl: string;
  readonly port: number;
  readonly gena: GenaPublisher;
  /** Requests answered 503 because their source spent its `requestRatePerSource`. */
  rateLimited(): number;
  /**
   * Control requests `accept` answered on its quick path (one plain POST with `Connection:
   * close`); every other request on those connections, and on the listener, is node:http's.
   */
  quickAnswered(): number;
  close(): Promise<void>;
}

function writeEmpty(res: ServerResponse, status: number, server: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...extra, SERVER: server, 'Content-Length': 0 });
  res.end();
}

function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

type BodyRead = { readonly ok: true; readonly body: Uint8Array } | { readonly ok: false; readonly status: number };

/** A refusal with `status`, once the rest of the body is discarded. */
function refuseBody(req: IncomingMessage, status: number): Promise<BodyRead> {
  return discardRest(req).then(() => ({ ok: false, status }));
}

/**
 * Reads a control request's body, at most `limit` bytes (413 beyond, decided by
 * Content-Length before reading when it is given); a compressed body is refused (415).
 * A small reader of our own: body-parser cost a sixth of a request's CPU time here.
 */
function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const encoding = firstHeader(req, 'content-encoding');
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return refuseBody(req, 415);
  const declared = firstHeader(req, 'content-length');
  if (declared !== undefined && Number(declared) > limit) return refuseBody(req, 413);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyRead): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onError);
      if (result.ok) resolve(result);
      else void discardRest(req).then(() => resolve(result));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) finish({ ok: false, status: 413 });
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    const onError = (): void => finish({ ok: false, status: 400 });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onError); // closed before 'end': the client went away
  });
}

/** The most of a refused body read and dropped before the client is cut off. */
const DISCARD_LIMIT_BYTES = 1 << 20;

/**
 * Reads and drops the rest of a refused body; resolves once it has all come (or the client
 * went away). The refusal is answered only then: a socket closed with bytes unread makes
 * the kernel send a reset, and a client still sending its body would lose the answer.
 * A client sending more than DISCARD_LIMIT_BYTES is not waited for: its socket is destroyed.
 */
function discardRest(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let discarded = 0;
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_LIMIT_BYTES) req.socket.destroy();
    });
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
    req.resume();
  });
}

/** A handler of one UPnP route: plain node:http, so that it runs with or without Express. */
type UpnpRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The key of a UPnP route: `METHOD /path`, the path in lower case and without one trailing
 * slash, so that the spellings Express's default matching accepts for a path (another
 * letter case, a trailing slash) find the same route. HEAD is looked up as GET (node:http
 * leaves the body out), as Express's get routes answer it.
 */
function routeKey(method: string, path: string): string {
  const bare = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return `${method === 'HEAD' ? 'GET' : method} ${bare.toLowerCase()}`;
}

/**
 * The route key of a request, the query left out. Every control request goes through
 * here: the UPnP routes are found in a Map and skip Express's router and its per-request
 * setup (a quarter of a small request's CPU time here); anything else is Express's.
 */
function requestRouteKey(req: IncomingMessage): string {
  return requestTargetKey(req.method ?? '', req.url ?? '');
}

/** The route key of `method` and a request target, the query left out. */
function requestTargetKey(method: string, target: string): string {
  const query = target.indexOf('?');
  return routeKey(method, query < 0 ? target : target.slice(0, query));
}

/** A control request's answer: the out arguments in a service type, or a failure in a version's codes. */
interface ControlAnswer {
  readonly serviceType: string;
  readonly version: IgdVersion;
  readonly result: ActionDispatchResult;
}

/** Runs a parsed control request of `service` on a gateway serving `served`. */
async function answerControl(service: IgdServiceKey, request: SoapRequest, igd: Igd, client: string, served: IgdVersion): Promise<ControlAnswer> {
  if (isQueryStateVariable(request)) {
    const queried = await queryStateVariable(service, request, { igd, clientAddress: client, version: served });
    const result: ActionDispatchResult = queried.ok ? { ok: true, outArgs: [['return', queried.value]] } : queried;
    return { serviceType: UPNP_CONTROL_NAMESPACE, version: served, result };
  }
  const version = requestedServiceVersion(service, request.serviceType, served) ?? served;
  const result = await dispatchSoapRequest(service, request, { igd, clientAddress: client }, served);
  return { serviceType: serviceDeclaration(service, version).serviceType, version, result };
}

/** What a control request is answered: a SOAP body with 200 or 500, or an empty 400. */
type ControlResult = { readonly status: 200 | 500; readonly xml: string } | { readonly status: 400 };

/**
 * A complete HTTP/1.1 answer, as node:http writes one for a request with `Connection:
 * close`: the status line, `headers` in their order, Date, Connection, then `body` in UTF-8
 * (`bodyBytes` long), in one buffer.
 */
function closingResponse(status: number, headers: Record<string, string | number>, body: string, bodyBytes: number): Buffer {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  head += `Date: ${httpDate()}\r\nConnection: close\r\n\r\n`;
  const answer = Buffer.allocUnsafe(head.length + bodyBytes);
  answer.write(head, 0, 'latin1');
  answer.write(body, head.length, 'utf8');
  return answer;
}

/** The Date header's value (RFC 9110 §5.6.7), made once per second as node:http does. */
let dateSecond = -1;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** A connection handed to `accept`: a stream with net.Socket's peer address and idle timeout. */
export type AcceptedConnection = Duplex & {
  readonly remoteAddress?: string | undefined;
  setTimeout(ms: number, callback?: () => void): unknown;
};

/** Starts the server; resolves once it listens. Rejects when the address cannot be bound. */
export async function startIgdHttpServer(options: IgdHttpServerOptions, components: IgdHttpServerComponents): Promise<IgdHttpServer> {
  const { igd } = components;
  const server = options.server ?? ssdpServerString();
  const served = options.igdVersion ?? 1;
  const deviceInfo = resolveDeviceInfo(options.deviceInfo);
  const descriptions = new Map<IgdVersion, string>(([1, 2] as const).filter((v) => v <= served).map((version) => [version,
    buildRootDescription(options.rootUuid, deviceInfo, options.urlBase === undefined ? { version } : { urlBase: options.urlBase, version })]));
  const gena = new GenaPublisher((service) => igd.eventedState(service), { ...options.gena, server }, components.gena);
  const unsubscribeIgd = igd.onStateChange((change) => gena.publish(change.service, change.variables));
  const report = (record: IgdActionRecord): void => {
    try {
      components.onAction?.(record);
    } catch {
      // An observer's failure is not the client's.
    }
  };

  const bodyLimit = options.bodyLimitBytes ?? 16 * 1024;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  /**
   * Parses and runs one control request's body for `service`, reports it, and says what
   * to answer: the SOAP response (200) or fault (500), or 400 for a body that is not SOAP.
   */
  const runControl = async (service: IgdServiceKey, body: Uint8Array, soapAction: string | undefined, client: string): Promise<ControlResult> => {
    const parsed = parseSoapRequest(body, soapAction);
    if (!parsed.ok) {
      if (parsed.kind === 'malformed') {
        report({ service, action: '', client, ok: false, reason: 'malformed', detail: parsed.reason });
        return { status: 400 };
      }
      report({ service, action: '', client, ok: false, reason: 'invalid-action', code: 401, detail: parsed.reason });
      return { status: 500, xml: buildSoapFault(UPNP_ERROR.invalidAction) };
    }
    const action = parsed.request.actionName;
    const { serviceType, version, result } = await answerControl(service, parsed.request, igd, client, served);
    if (result.ok) {
      report({ service, action, client, ok: true });
      return { status: 200, xml: buildSoapResponse(serviceType, action, result.outArgs) };
    }
    const error = upnpErrorFor(result.reason, version);
    report({ service, action, client, ok: false, reason: result.reason, code: error.code, detail: result.detail });
    return { status: 500, xml: buildSoapFault(error) };
  };

  // The UPnP routes, by method and path (`routeKey`): served without Express (see `direct`).
  const routes = new Map<string, UpnpRoute>();
  /** The control routes' keys and their services: what the quick path (`acceptQuickly`) may answer. */
  const controls = new Map<string, IgdServiceKey>();
  const route = (method: 'GET' | 'POST', path: string, handler: UpnpRoute): void => {
    routes.set(routeKey(method, path), handler);
  };
  const versionFor = (req: IncomingMessage): IgdVersion => describedVersion(served, firstHeader(req, 'user-agent'));
  route('GET', ROOT_DESCRIPTION_PATH, (req, res) => writeUpnpXml(res, 200, descriptions.get(versionFor(req))!, server));

  for (const service of IGD_SERVICE_KEYS) {
    const declaration = serviceDeclaration(service, served);
    const scpds = new Map([...descriptions.keys()].map((version) => [version, buildScpd(service, version)]));
    route('GET', declaration.scpdPath, (req, res) => writeUpnpXml(res, 200, scpds.get(versionFor(req))!, server));

    controls.set(routeKey('POST', declaration.controlPath), service);
    route('POST', declaration.controlPath, async (req, res) => {
      const read = await readBody(req, bodyLimit);
      if (!read.ok) {
        writeEmpty(res, read.status, server, { Connection: 'close' });
        return;
      }
      const client = stripIpv4MappedPrefix(req.socket.remoteAddress ?? '');
      const answer = await runControl(service, read.body, firstHeader(req, 'soapaction'), client);
      if (answer.status === 400) writeEmpty(res, 400, server);
      else writeUpnpXml(res, answer.status, answer.xml, server);
    });
    app.all(declaration.controlPath, (_req, res) => writeEmpty(res, 405, server, { Allow: 'POST' }));

    app.all(declaration.eventSubPath, (req, res) => {
      if (req.method !== 'SUBSCRIBE' && req.method !== 'UNSUBSCRIBE') {
        writeEmpty(res, 405, server, { Allow: 'SUBSCRIBE, UNSUBSCRIBE' });
        return;
      }
      const answer = gena.handle(service, {
        method: req.method, headers: req.headers, sourceAddress: req.socket.remoteAddress ?? '',
      });
      if (answer.afterResponse) {
        let released = false;
        const release = (): void => {
          if (released) return;
          released = true;
          answer.afterResponse?.();
        };
        res.once('finish', release);
        res.once('close', release);
      }
      writeEmpty(res, answer.status, server, { ...answer.headers });
    });
  }

  components.mount?.(app);
  app.use((_req: Request, res: Response) => writeEmpty(res, 404, server));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number'
      && err.status >= 400 && err.status < 600 ? err.status : 500;
    writeEmpty(res, status, server);
  });

  const limiter = options.requestRatePerSource ? new SourceBuckets(options.requestRatePerSource) : null;
  const direct = (req: IncomingMessage, res: ServerResponse): void => {
    if (limiter && !limiter.take(req.socket.remoteAddress ?? '')) {
      writeEmpty(res, 503, server, { 'Retry-After': '1', Connection: 'close' });
      return;
    }
    const handler = routes.get(requestRouteKey(req));
    if (handler === undefined) {
      app(req, res);
      return;
    }
    try {
      const done = handler(req, res);
      if (done) done.catch(() => writeEmpty(res, 500, server));
    } catch {
      writeEmpty(res, 500, server);
    }
  };
  const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;

  /**
   * The quick path for connections handed to `accept`: when the first bytes are one
   * plain control request with `Connection: close` (quick-request.ts), it is answered
   * here, without node:http's per-connection work; anything else goes to node:http with
   * those bytes put back, answered exactly as before. The same request limit, control
   * code, reports and headers as the route above.
   */
  function acceptQuickly(socket: AcceptedConnection): void {
    const onError = (): void => {
      socket.destroy();
    };
    const onEnd = (): void => {
      socket.destroy();
    };
    const release = (): void => {
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.setTimeout(0);
    };
    socket.on('error', onError);
    socket.once('end', onEnd);
    socket.setTimeout(headersTimeoutMs, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      const request = readQuickRequest(chunk);
      const service = request ? controls.get(requestTargetKey('POST', request.target)) : undefined;
      if (request === null || service === undefined || request.body.length > bodyLimit) {
        release();
        socket.unshift(chunk);
        httpServer.emit('connection', socket);
        socket.resume();
        return;
      }
      void answerQuickly(socket, service, request).catch(() => socket.destroy());
    });
  }

  let quickAnswered = 0;

  /** Answers a quick request and closes the connection once the answer is sent. */
  async function answerQuickly(socket: AcceptedConnection, service: IgdServiceKey, request: QuickRequest): Promise<void> {
    const source = socket.remoteAddress ?? '';
    let answer: Buffer;
    if (limiter && !limiter.take(source)) {
      answer = closingResponse(503, { 'Retry-After': '1', SERVER: server, 'Content-Length': 0 }, '', 0);
    } else {
      const result = await runControl(service, request.body, request.soapAction, stripIpv4MappedPrefix(source));
      if (result.status === 400) {
        answer = closingResponse(400, { SERVER: server, 'Content-Length': 0 }, '', 0);
      } else {
        const length = Buffer.byteLength(result.xml, 'utf8');
        answer = closingResponse(result.status, upnpXmlHeaders(length, server), result.xml, length);
      }
    }
    quickAnswered++;
    socket.setTimeout(0);
    socket.once('finish', () => socket.destroy());
    socket.resume(); // the peer's FIN
    socket.end(answer);
  }

  const httpServer = createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    connectionsCheckingInterval: 1_000,
  }, direct);
  httpServer.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  httpServer.maxConnections = options.maxConnections ?? 128;

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    httpServer.once('error', onError);
    httpServer.listen(options.port, options.host, () => {
      httpServer.off('error', onError);
      resolve();
    });
  }).catch(async (e: unknown) => {
    unsubscribeIgd();
    await gena.close();
    throw e;
  });
  const sweep = setInterval(() => gena.expire(), options.genaSweepIntervalMs ?? 30_000);
  sweep.unref();

  const port = (httpServer.address() as AddressInfo).port;
  const url = `http://${options.host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    descriptionUrl: `${url}${ROOT_DESCRIPTION_PATH}`,
    port,
    gena,
    rateLimited: () => limiter?.refused ?? 0,
    quickAnswered: () => quickAnswered,
    accept: acceptQuickly,
    close: () => {
      closing ??= (async () => {
        clearInterval(sweep);
        unsubscribeIgd();
        const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        httpServer.closeAllConnections();
        await gena.close();
        await closed;
      })();
      return closing;
    },
  };
}
