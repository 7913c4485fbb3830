/** Calls the gateway's admin API over its Unix socket. */
import { request } from 'node:http';

export function admin(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request({ socketPath, method, path, timeout: 5000, headers: data ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('admin API timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

/** The IGD's userspace TCP endpoint's counters (`igd.tcp: userspace`); null with `igd.tcp: kernel`. */
export interface IgdTcpStatus {
  accepted: number; refused: number; halfOpenDropped: number; resetsSent: number; resetsReceived: number; retransmits: number;
  timedOut: number; dropped: number; bytesIn: number; bytesOut: number; open: number;
}

export interface GatewayStatus {
  drops: Record<string, number>;
  stats: Record<string, number>;
  links: Record<string, { rxFrames: number; txFrames: number; rxGsoFrames: number; txCoalesced: number }>;
  dhcpLeases: { mac: string; address: string }[];
  lan: { mac: string };
  wan: { mac: string; address: string };
  nat: Record<string, unknown>;
  fragments: Record<'lan' | 'wan', { inProgress: number; fragments: number; reassembled: number; evicted: number }>;
  igdTcp: IgdTcpStatus | null;
  /** The IGD's counters that the tests read (null when the IGD is off). */
  igd: { httpQuickAnswered: number } | null;
}

export async function status(socketPath: string): Promise<GatewayStatus> {
  return (await admin(socketPath, 'GET', '/status')).json as GatewayStatus;
}
