/**
 * The NOTIFY listener of a run (UDA 1.0 §4.2): an HTTP server on the address the device
 * sees us by, answering 200 to every request and keeping what came (at most 1000).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Notify {
  readonly headers: IncomingMessage['headers'];
  readonly method: string;
  readonly body: string;
  readonly at: number;
}

/** The NOTIFY listener of a run, started on first use. */
export class EventSink {
  readonly received: Notify[] = [];
  private server?: Server;
  private waiters: (() => void)[] = [];

  async start(address: string): Promise<string> {
    if (!this.server) {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on('data', (c: Buffer) => { size += c.length; if (size < 1 << 20) chunks.push(c); });
        req.on('end', () => {
          if (this.received.length < 1000) this.received.push({ headers: req.headers, method: req.method ?? '', body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
          res.writeHead(200, { 'content-length': '0' }).end();
          for (const w of this.waiters.splice(0)) w();
        });
      });
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, address, () => resolve()); });
      this.server = server;
    }
    return `http://${address}:${(this.server.address() as AddressInfo).port}/openigd-conformance`;
  }

  /** The first NOTIFY for `sid` with SEQ `seq`, waiting up to `ms`. */
  async wait(sid: string, seq: number, ms: number): Promise<Notify | undefined> {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 1000; i++) {
      const hit = this.received.find((n) => n.headers.sid === sid && n.headers.seq === String(seq));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return undefined;
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }
}

