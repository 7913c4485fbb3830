/**
 * An SSDP client (UDA 1.1 §1.3): sends an M-SEARCH from a socket of its own, to the
 * multicast group or one device, and collects the answers that come back to that socket
 * (unicast, as the spec wants) for a while. Answers are parsed into a status line and
 * headers; nothing is thrown for a malformed one.
 */
import { createSocket } from 'node:dgram';

export const SSDP_MULTICAST = { address: '239.255.255.250', port: 1900 } as const;

export interface SsdpAnswer {
  readonly from: string;
  readonly fromPort: number;
  readonly statusLine: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly raw: string;
  /** Milliseconds after the search was sent. */
  readonly afterMs: number;
}

export interface MSearch {
  readonly target: { readonly address: string; readonly port: number };
  readonly st: string;
  /** MX in seconds; omitted from the request when undefined. */
  readonly mx?: number;
  /** Source address for multicast (the LAN interface's). */
  readonly interfaceAddress?: string;
  /** How long to collect answers. */
  readonly waitMs: number;
}

/** The request's text, as UDA 1.1 §1.3.2 lays it out. */
export function mSearchText(m: MSearch): string {
  const host = m.target.address === SSDP_MULTICAST.address ? `${SSDP_MULTICAST.address}:${SSDP_MULTICAST.port}` : `${m.target.address}:${m.target.port}`;
  return `M-SEARCH * HTTP/1.1\r\nHOST: ${host}\r\nMAN: "ssdp:discover"\r\n${m.mx === undefined ? '' : `MX: ${m.mx}\r\n`}ST: ${m.st}\r\n`
    + 'USER-AGENT: Linux/1 UPnP/1.1 openigd-conformance/0.1\r\n\r\n';
}

export function parseSsdpMessage(raw: string): { statusLine: string; headers: Record<string, string> } {
  const lines = raw.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] ??= l.slice(i + 1).trim();
  }
  return { statusLine: lines[0] ?? '', headers };
}

/** Sends one M-SEARCH and resolves with every answer received within `waitMs`. */
export async function mSearch(m: MSearch): Promise<{ sent: string; answers: SsdpAnswer[] }> {
  const socket = createSocket({ type: 'udp4', reuseAddr: false });
  const answers: SsdpAnswer[] = [];
  const sent = mSearchText(m);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, m.interfaceAddress, () => { socket.off('error', reject); resolve(); });
    });
    if (m.target.address === SSDP_MULTICAST.address) {
      socket.setMulticastTTL(2);
      if (m.interfaceAddress) socket.setMulticastInterface(m.interfaceAddress);
    }
    const start = Date.now();
    socket.on('message', (msg, rinfo) => {
      if (answers.length >= 200) return;
      const raw = msg.toString('latin1');
      answers.push({ from: rinfo.address, fromPort: rinfo.port, ...parseSsdpMessage(raw), raw, afterMs: Date.now() - start });
    });
    await new Promise<void>((resolve, reject) => socket.send(sent, m.target.port, m.target.address, (e) => (e ? reject(e) : resolve())));
    await new Promise((r) => setTimeout(r, m.waitMs));
  } finally {
    socket.close();
  }
  return { sent, answers };
}

export interface SsdpNotify {
  readonly from: string;
  readonly requestLine: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly raw: string;
  /** Milliseconds after the listening began. */
  readonly afterMs: number;
}

export interface NotifyListen {
  /**
   * Where to listen: the SSDP group (port 1900, joined on `interfaceAddress`) by default; a
   * unicast address and port instead (tests, whose double sends its NOTIFYs there).
   */
  readonly unicast?: { readonly address: string; readonly port: number };
  /** The LAN interface's address, on which the group is joined. */
  readonly interfaceAddress?: string;
  /** Longest time to listen. */
  readonly waitMs: number;
  /** Stops early once this says the NOTIFYs received so far are enough. */
  readonly enough?: (received: readonly SsdpNotify[]) => boolean;
  /** Stops at once when aborted. */
  readonly signal?: AbortSignal;
}

/** Most NOTIFYs kept of one listening window. */
const MAX_NOTIFIES = 500;

/**
 * Listens for NOTIFY requests (ssdp:alive, ssdp:byebye, UDA 1.1 §1.2) for at most `waitMs`;
 * resolves with what came (other datagrams are ignored) and how long it listened.
 */
export async function listenNotify(o: NotifyListen): Promise<{ notifies: SsdpNotify[]; listenedMs: number }> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const notifies: SsdpNotify[] = [];
  const start = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      const at = o.unicast ?? { address: '0.0.0.0', port: SSDP_MULTICAST.port };
      socket.bind({ port: at.port, address: at.address, exclusive: false }, () => { socket.off('error', reject); resolve(); });
    });
    if (!o.unicast) socket.addMembership(SSDP_MULTICAST.address, o.interfaceAddress);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.waitMs);
      const stop = () => { clearTimeout(timer); resolve(); };
      o.signal?.addEventListener('abort', stop, { once: true });
      socket.on('message', (msg, rinfo) => {
        const raw = msg.toString('latin1');
        if (!raw.startsWith('NOTIFY ') || notifies.length >= MAX_NOTIFIES) return;
        const { statusLine, headers } = parseSsdpMessage(raw);
        notifies.push({ from: rinfo.address, requestLine: statusLine, headers, raw, afterMs: Date.now() - start });
        if (o.enough?.(notifies)) stop();
      });
    });
  } finally {
    socket.close();
  }
  return { notifies, listenedMs: Date.now() - start };
}
