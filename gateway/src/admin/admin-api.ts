/**
 * The admin API: JSON over HTTP on a Unix socket (Express). Status and counters,
 * Prometheus metrics (`/metrics`), the live flow table a page at a time (`/flows`), the
 * port mappings of every protocol (list, add, change, delete), the DHCP leases, pcap
 * capture on and off, and `POST /wan` to change the WAN address at run time (what a new
 * DHCP lease does). The socket file is created mode 0600. The same API may also listen on
 * TCP (`admin.listen`, loopback only: config refuses the LAN, WAN and wildcard addresses),
 * where every request needs `Authorization: Bearer <admin token>`. It checks requests
 * (admin-requests.ts), then reads and asks through `GatewayControl`; it owns no state.
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CaptureStatus, FlowView, GatewayStatus, LeaseView, MappingView } from '../stats.js';
import { createGatewayMetrics } from './metrics.js';
import { isPageRequest, mountPage } from './page.js';
import {
  parseCaptureBody, parseFlowQuery, parseMappingInput, parseMappingKey, parseMappingPatch,
  type BadField, type FlowQuery, type MappingInput, type MappingKeyParams, type MappingPatch,
} from './admin-requests.js';

export interface WanChange {
  readonly address: string;
  readonly prefixLength: number;
  readonly gateway?: string;
}

/** `GET /flows`: the matching flows' count and one page of them. */
export interface FlowPage {
  readonly total: number;
  readonly offset: number;
  readonly flows: readonly FlowView[];
}

/** What a change of the mappings came to: the value, or why not (404: no such mapping; 409: refused, with the reason). */
export type ControlOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly status: 404 | 409; readonly error: string };

/** What the admin API may read and do; the daemon implements it. */
export interface GatewayControl {
  /** The statistics snapshot (the daemon's collect()): `/status` and `/metrics` read it. */
  status(): GatewayStatus;
  flows(query: FlowQuery): FlowPage;
  mappings(): readonly MappingView[];
  addMapping(input: MappingInput): Promise<ControlOutcome<MappingView>>;
  updateMapping(key: MappingKeyParams, patch: MappingPatch): Promise<ControlOutcome<MappingView>>;
  deleteMapping(key: MappingKeyParams): Promise<ControlOutcome<null>>;
  leases(): readonly LeaseView[];
  capture(): CaptureStatus;
  setCapture(on: boolean): Promise<CaptureStatus>;
  setWan(change: WanChange): Promise<void>;
}

export interface AdminServer {
  readonly socketPath: string;
  /** The TCP listener's address and port, when there is one. */
  readonly tcp: { readonly host: string; readonly port: number } | null;
  close(): Promise<void>;
}

/** The TCP listener: where, and the bearer token every request must carry. */
export interface AdminTcpOptions {
  readonly host: string;
  /** 0: any free port (tests). */
  readonly port: number;
  readonly token: string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** True when `authorization` is `Bearer <token>`; compared in constant time. */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

const QUAD = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Validates a `POST /wan` body; returns the change or the field and problem. */
export function parseWanBody(body: unknown): WanChange | BadField {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { field: '(body)', problem: 'must be a JSON object' };
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (k !== 'address' && k !== 'gateway') return { field: k, problem: 'is not a known field' };
  if (typeof b.address !== 'string') return { field: 'address', problem: 'is required: "a.b.c.d/n"' };
  const [addr, len, extra] = b.address.split('/');
  if (extra !== undefined || !addr || !QUAD.test(addr)) return { field: 'address', problem: 'must be "a.b.c.d/n"' };
  const prefixLength = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 32) return { field: 'address', problem: 'prefix length must be 1-32' };
  if (b.gateway !== undefined && (typeof b.gateway !== 'string' || !QUAD.test(b.gateway))) {
    return { field: 'gateway', problem: 'must be "a.b.c.d"' };
  }
  return { address: addr, prefixLength, ...(typeof b.gateway === 'string' ? { gateway: b.gateway } : {}) };
}

export async function startAdminServer(socketPath: string, control: GatewayControl, tcp?: AdminTcpOptions): Promise<AdminServer> {
  const metrics = createGatewayMetrics();
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));
  mountPage(app);
  app.get('/status', (_req, res) => { res.json(control.status()); });
  app.get('/metrics', async (_req, res) => {
    const text = await metrics.render(control.status());
    res.type(metrics.contentType).send(text);
  });
  app.get('/flows', (req, res) => {
    const query = parseFlowQuery(req.query as Record<string, unknown>);
    if (badRequest(res, query)) return;
    res.json(control.flows(query));
  });
  app.get('/mappings', (_req, res) => { res.json(control.mappings()); });
  app.post('/mappings', async (req, res) => {
    const input = parseMappingInput(req.body);
    if (badRequest(res, input)) return;
    answer(res, await control.addMapping(input), 201);
  });
  app.patch('/mappings/:protocol/:externalPort', async (req, res) => {
    const key = parseMappingKey(req.params.protocol!, req.params.externalPort!);
    if (badRequest(res, key)) return;
    const patch = parseMappingPatch(req.body);
    if (badRequest(res, patch)) return;
    answer(res, await control.updateMapping(key, patch), 200);
  });
  app.delete('/mappings/:protocol/:externalPort', async (req, res) => {
    const key = parseMappingKey(req.params.protocol!, req.params.externalPort!);
    if (badRequest(res, key)) return;
    answer(res, await control.deleteMapping(key), 204);
  });
  app.get('/leases', (_req, res) => { res.json(control.leases()); });
  app.get('/capture', (_req, res) => { res.json(control.capture()); });
  app.post('/capture', async (req, res) => {
    const body = parseCaptureBody(req.body);
    if (badRequest(res, body)) return;
    try {
      res.json(await control.setCapture(body.on));
    } catch (e) {
      res.status(409).json({ error: (e as Error).message });
    }
  });
  app.post('/wan', async (req: Request, res: Response) => {
    const change = parseWanBody(req.body);
    if (badRequest(res, change)) return;
    try {
      await control.setWan(change);
      res.json({ ok: true, ...change });
    } catch (e) {
      res.status(409).json({ error: (e as Error).message });
    }
  });
  app.use((_req, res) => { res.status(404).json({ error: 'no such endpoint' }); });
  // Express's JSON parser errors (bad JSON, too large) become a 400 naming the body.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status && err.status < 500 ? err.status : 500).json({ error: `(body): ${err.message}`, field: '(body)' });
  });
  await mkdir(dirname(socketPath), { recursive: true });
  await rm(socketPath, { force: true });
  const server = await listen(createServer(app), { path: socketPath });
  await chmod(socketPath, 0o600);
  let tcpServer: Server | null = null;
  try {
    if (tcp) tcpServer = await listen(createServer(withToken(app, tcp.token)), { port: tcp.port, host: tcp.host });
  } catch (e) {
    await closeServer(server);
    await rm(socketPath, { force: true });
    throw e;
  }
  const bound = tcpServer?.address();
  return {
    socketPath,
    tcp: tcp && bound && typeof bound === 'object' ? { host: tcp.host, port: bound.port } : null,
    close: async () => {
      if (tcpServer) await closeServer(tcpServer);
      await closeServer(server);
      await rm(socketPath, { force: true });
    },
  };
}

/** Answers 400 naming the field when `v` is a BadField; true when it did. */
function badRequest<T extends object>(res: Response, v: T | BadField): v is BadField {
  if (!('field' in v && 'problem' in v)) return false;
  res.status(400).json({ error: `${v.field}: ${v.problem}`, field: v.field });
  return true;
}

/** Sends a control outcome: `status` with the value (204: no body), or its 404/409 with the reason. */
function answer<T>(res: Response, outcome: ControlOutcome<T>, status: 200 | 201 | 204): void {
  if (!outcome.ok) res.status(outcome.status).json({ error: outcome.error });
  else if (status === 204) res.status(204).end();
  else res.status(status).json(outcome.value);
}

/** The TCP listener's handler: 401 unless the request carries the bearer token (the page's own files need none). */
function withToken(app: (req: IncomingMessage, res: ServerResponse) => void, token: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (isPageRequest(req.method, req.url) || bearerTokenMatches(req.headers.authorization, token)) return app(req, res);
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="openigd-admin"' });
    res.end(JSON.stringify({ error: 'Authorization: Bearer <admin token> is required' }));
  };
}

function listen(server: Server, at: { path: string } | { port: number; host: string }): Promise<Server> {
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at, () => { server.off('error', reject); resolve(server); });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
