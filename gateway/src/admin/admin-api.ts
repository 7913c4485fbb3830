/**
 * The admin API: JSON over HTTP on a Unix socket (Express). Status and counters,
 * the live flow table, the port mappings, and `POST /wan` to change the WAN address
 * at run time (what a new DHCP lease does). Only the local machine reaches it: the
 * socket file is created mode 0600. It reads and asks through `GatewayControl`; it
 * owns no state.
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface WanChange {
  readonly address: string;
  readonly prefixLength: number;
  readonly gateway?: string;
}

/** What the admin API may read and do; the daemon implements it. */
export interface GatewayControl {
  status(): Record<string, unknown>;
  flows(limit: number): readonly Record<string, unknown>[];
  mappings(): readonly Record<string, unknown>[];
  setWan(change: WanChange): Promise<void>;
}

export interface AdminServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

const QUAD = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Validates a `POST /wan` body; returns the change or the field and problem. */
export function parseWanBody(body: unknown): WanChange | { field: string; problem: string } {
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

export async function startAdminServer(socketPath: string, control: GatewayControl): Promise<AdminServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));
  app.get('/status', (_req, res) => { res.json(control.status()); });
  app.get('/flows', (req, res) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 1000) || 1000, 1), 100_000);
    res.json(control.flows(limit));
  });
  app.get('/mappings', (_req, res) => { res.json(control.mappings()); });
  app.post('/wan', async (req: Request, res: Response) => {
    const change = parseWanBody(req.body);
    if ('field' in change) {
      res.status(400).json({ error: `${change.field}: ${change.problem}`, field: change.field });
      return;
    }
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
  const server: Server = createServer(app);
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => { server.off('error', reject); resolve(); });
  });
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => { void rm(socketPath, { force: true }).then(() => resolve()); });
    }),
  };
}
