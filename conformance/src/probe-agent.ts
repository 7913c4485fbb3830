/**
 * The WAN-side probe agent of `openigd conformance --wan-probe` (data-plane proof), and the
 * tool's side of its control protocol.
 *
 * A vendor runs the agent on a machine on the router's WAN side
 * (`openigd conformance-probe --listen ADDR:PORT`). The tool, on a LAN host, opens a control
 * TCP connection to it (through the router, as any LAN client would) and sends one JSON
 * line per probe:
 *
 *   {"proto":"tcp"|"udp","address":"<external address>","port":<external port>,"token":"<hex>"}
 *
 * For TCP the agent connects to address:port, writes the token and a newline and reads one
 * line back; for UDP it sends the token in three datagrams 200 ms apart. It answers one
 * JSON line: {"ok":true,"detail":"..."} once done, or {"ok":false,"detail":"<why>"} when it
 * could not (connection refused, timed out). Whether the probe arrived is decided by the
 * tool, from what its LAN listener received; the agent's answer only explains a failure.
 * The agent answers probes one at a time per connection, bounds each in time, and keeps no
 * state between them.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface ProbeRequest {
  readonly proto: 'tcp' | 'udp';
  readonly address: string;
  readonly port: number;
  readonly token: string;
}

export interface ProbeAnswer {
  readonly ok: boolean;
  readonly detail: string;
}

/** How long the agent tries one probe. */
const PROBE_MS = 3000;
const UDP_COPIES = 3;
const UDP_SPACING_MS = 200;
/** Longest control line accepted. */
const MAX_LINE = 1024;

/** Parses one control line; a string says why it is not a probe request. */
export function parseProbeRequest(line: string): ProbeRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  const r = v as Partial<ProbeRequest>;
  if (r.proto !== 'tcp' && r.proto !== 'udp') return 'proto must be tcp or udp';
  if (typeof r.address !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(r.address)) return 'address must be an IPv4 address';
  if (!Number.isInteger(r.port) || r.port! < 1 || r.port! > 65535) return 'port must be 1-65535';
  if (typeof r.token !== 'string' || !/^[0-9a-f]{8,64}$/.test(r.token)) return 'token must be 8-64 hex digits';
  return { proto: r.proto, address: r.address, port: r.port!, token: r.token };
}

function tcpProbe(r: ProbeRequest): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const s = createConnection({ host: r.address, port: r.port });
    let got = '';
    const done = (a: ProbeAnswer) => {
      clearTimeout(timer);
      s.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `no answer from ${r.address}:${r.port}/tcp in ${PROBE_MS} ms` }), PROBE_MS);
    s.on('connect', () => s.write(`${r.token}\n`));
    s.on('data', (c) => {
      got += c.toString('latin1');
      if (got.includes('\n') || got.length > MAX_LINE) done({ ok: true, detail: `connected; the LAN side answered ${JSON.stringify(got.trim().slice(0, 80))}` });
    });
    s.on('end', () => done({ ok: true, detail: `connected; closed after ${JSON.stringify(got.slice(0, 80))}` }));
    s.on('error', (e) => done({ ok: false, detail: `${r.address}:${r.port}/tcp: ${e.message}` }));
  });
}

async function udpProbe(r: ProbeRequest): Promise<ProbeAnswer> {
  const s = createSocket('udp4');
  try {
    for (let i = 0; i < UDP_COPIES; i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, UDP_SPACING_MS));
      await new Promise<void>((res, rej) => s.send(r.token, r.port, r.address, (e) => (e ? rej(e) : res())));
    }
    return { ok: true, detail: `sent ${UDP_COPIES} datagrams to ${r.address}:${r.port}/udp` };
  } catch (e) {
    return { ok: false, detail: `${r.address}:${r.port}/udp: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    s.close();
  }
}

/** Runs one probe as the agent. */
export function runProbe(r: ProbeRequest): Promise<ProbeAnswer> {
  return r.proto === 'tcp' ? tcpProbe(r) : udpProbe(r);
}

/** Serves one control connection: a line in, a probe, a line out, until it closes. */
function serveControl(c: Socket): void {
  let buffered = '';
  let busy = Promise.resolve();
  c.setEncoding('latin1');
  c.on('error', () => c.destroy());
  c.on('data', (chunk: string) => {
    buffered += chunk;
    if (buffered.length > MAX_LINE * 4) {
      c.end(`${JSON.stringify({ ok: false, detail: 'line too long' })}\n`);
      return;
    }
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      busy = busy.then(async () => {
        const req = parseProbeRequest(line);
        const answer = typeof req === 'string' ? { ok: false, detail: `bad request: ${req}` } : await runProbe(req);
        if (!c.destroyed) c.write(`${JSON.stringify(answer)}\n`);
      });
    }
  });
}

/** Starts the agent; resolves with the server once it listens. */
export async function startProbeAgent(listen: { address: string; port: number }): Promise<Server> {
  const server = createServer(serveControl);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.address, () => { server.off('error', reject); resolve(); });
  });
  return server;
}

export function agentAddress(server: Server): { address: string; port: number } {
  const a = server.address() as AddressInfo;
  return { address: a.address, port: a.port };
}

/** The tool's end of the control connection: one probe at a time. */
export class ProbeAgentClient {
  private buffered = '';
  private waiting?: (line: string | undefined) => void;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      this.buffered += c;
      const i = this.buffered.indexOf('\n');
      if (i >= 0 && this.waiting) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.waiting(line);
      }
    });
    socket.on('close', () => this.waiting?.(undefined));
    socket.on('error', () => undefined);
  }

  static connect(agent: { address: string; port: number }, timeoutMs: number): Promise<ProbeAgentClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ host: agent.address, port: agent.port });
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`no connection to the probe agent ${agent.address}:${agent.port} in ${timeoutMs} ms`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(new ProbeAgentClient(s)); });
      s.once('error', (e) => { clearTimeout(timer); reject(new Error(`probe agent ${agent.address}:${agent.port}: ${e.message}`)); });
    });
  }

  /** Asks for one probe; resolves with the agent's answer (or why there is none). */
  probe(r: ProbeRequest): Promise<ProbeAnswer> {
    if (this.socket.destroyed) return Promise.resolve({ ok: false, detail: 'the control connection to the probe agent is closed' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), PROBE_MS + 2000);
      const finish = (line: string | undefined) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (line === undefined) {
          resolve({ ok: false, detail: 'the probe agent did not answer' });
          return;
        }
        try {
          const a = JSON.parse(line) as ProbeAnswer;
          resolve({ ok: a.ok === true, detail: String(a.detail) });
        } catch {
          resolve({ ok: false, detail: `the probe agent answered ${JSON.stringify(line.slice(0, 80))}` });
        }
      };
      this.waiting = finish;
      this.socket.write(`${JSON.stringify(r)}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
