/**
 * A raw HTTP/1.1 client over one TCP connection, for checks that need to see the wire:
 * several requests on one connection (keep-alive), whether and when the server closes,
 * chunked bodies, and answers to malformed requests. `readHttpResponse` is also the
 * response reader of the SOAP client. Never throws: failures are reasons.
 */
import { connect, type Socket } from 'node:net';

export interface HttpResponse {
  readonly status: number;
  readonly statusLine: string;
  /** Header names lower-cased; a repeated header keeps its first value. */
  readonly headers: Readonly<Record<string, string>>;
  /** Header lines as received. */
  readonly head: string;
  readonly body: Buffer;
  /** Body sent with Transfer-Encoding: chunked. */
  readonly chunked: boolean;
}

/** A response read so far: complete, incomplete (null), or unreadable (a reason). */
export type HttpRead = { readonly response: HttpResponse; readonly used: number } | string | null;

/** Largest response read; a longer one is a reason. */
export const MAX_RESPONSE_BYTES = 1 << 20;

/** Decodes a chunked body; null while incomplete, a reason when malformed; `used` counts the bytes it took. */
export function dechunk(bytes: Buffer): { body: Buffer; used: number } | string | null {
  const parts: Buffer[] = [];
  for (let at = 0, n = 0; n < 100_000; n++) {
    const eol = bytes.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return null;
    const size = parseInt(bytes.toString('latin1', at, eol).split(';')[0]!.trim(), 16);
    if (!Number.isInteger(size) || size < 0) return 'malformed chunk size';
    if (size === 0) {
      const end = bytes.indexOf('\r\n', eol + 2, 'latin1');
      if (end < 0) return null;
      return { body: Buffer.concat(parts), used: end + 2 };
    }
    if (bytes.length < eol + 2 + size + 2) return null;
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return 'too many chunks';
}

/** Reads one HTTP/1.x response from the bytes received so far; `ended` once the server closed. */
export function readHttpResponse(bytes: Buffer, ended: boolean, headRequest = false): HttpRead {
  const headEnd = bytes.indexOf('\r\n\r\n', 0, 'latin1');
  if (headEnd < 0) return ended ? (bytes.length ? 'connection closed inside the response head' : 'connection closed without a response') : null;
  const head = bytes.toString('latin1', 0, headEnd);
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!status) return `bad status line ${JSON.stringify(lines[0]?.slice(0, 60))}`;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] ??= line.slice(colon + 1).trim();
  }
  const base = { status: Number(status[1]), statusLine: lines[0]!, headers, head };
  const rest = bytes.subarray(headEnd + 4);
  const noBody = headRequest || base.status === 204 || base.status === 304 || (base.status >= 100 && base.status < 200);
  if (noBody) return { response: { ...base, body: Buffer.alloc(0), chunked: false }, used: headEnd + 4 };
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const d = dechunk(rest);
    if (typeof d === 'string') return d;
    if (d === null) return ended ? 'connection closed inside a chunked body' : null;
    return { response: { ...base, body: d.body, chunked: true }, used: headEnd + 4 + d.used };
  }
  const length = headers['content-length'];
  if (length === undefined) return ended ? { response: { ...base, body: rest, chunked: false }, used: bytes.length } : null;
  const n = Number(length);
  if (!/^\d+$/.test(length) || !Number.isSafeInteger(n)) return `bad Content-Length ${JSON.stringify(length)}`;
  if (rest.length >= n) return { response: { ...base, body: rest.subarray(0, n), chunked: false }, used: headEnd + 4 + n };
  return ended ? `connection closed after ${rest.length} of ${n} body bytes` : null;
}

/** One TCP connection to an HTTP server: send bytes, read responses in order, see it close. */
export class HttpConnection {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private error: string | undefined;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, c]);
      this.wake?.();
    });
    socket.on('end', () => { this.ended = true; this.wake?.(); });
    socket.on('close', () => { this.ended = true; this.wake?.(); });
    socket.on('error', (e) => { this.error ??= e.message; this.ended = true; this.wake?.(); });
  }

  /** Connects; a reason when it cannot within `timeoutMs`. */
  static open(host: string, port: number, timeoutMs = 5_000): Promise<HttpConnection | string> {
    return new Promise((resolve) => {
      const socket = connect({ host, port, noDelay: true });
      const timer = setTimeout(() => { socket.destroy(); resolve(`no connection to ${host}:${port} within ${timeoutMs} ms`); }, timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); resolve(new HttpConnection(socket)); });
      socket.once('error', (e) => { clearTimeout(timer); resolve(`${host}:${port}: ${e.message}`); });
    });
  }

  /** The local address of the connection: how the server sees us. */
  get localAddress(): string {
    return (this.socket.localAddress ?? '').replace(/^::ffff:/, '');
  }

  send(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** The next response (or a reason: closed, malformed, timed out). */
  async response(timeoutMs = 5_000, headRequest = false): Promise<HttpResponse | string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffered.length > MAX_RESPONSE_BYTES) return `response over ${MAX_RESPONSE_BYTES} bytes`;
      const r = readHttpResponse(this.buffered, this.ended, headRequest);
      if (typeof r === 'string') return this.error ? `${r} (${this.error})` : r;
      if (r !== null) {
        this.buffered = this.buffered.subarray(r.used);
        return r.response;
      }
      const left = deadline - Date.now();
      if (left <= 0) return `no complete response within ${timeoutMs} ms`;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = undefined;
    }
  }

  /** Whether the server closes the connection within `timeoutMs` (after all responses were read). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = undefined;
    }
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A request's bytes: request line, headers as given (Host first when present), body. */
export function httpRequestBytes(method: string, path: string, headers: readonly (readonly [string, string])[], body: Buffer | string = ''): Buffer {
  const head = `${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}

/** One request on a connection of its own, then close: the response or a reason. */
export async function httpExchange(url: URL, request: Buffer, timeoutMs = 5_000, headRequest = false): Promise<HttpResponse | string> {
  const c = await HttpConnection.open(url.hostname, url.port === '' ? 80 : Number(url.port), timeoutMs);
  if (typeof c === 'string') return c;
  try {
    c.send(request);
    return await c.response(timeoutMs, headRequest);
  } finally {
    c.close();
  }
}
