/**
 * The NAT-PMP server: one UDP socket bound to the gateway's LAN address, port 5351 (only LAN
 * hosts reach it: RFC 6886 §3.3 "MUST NOT accept mapping requests ... received on its
 * external network interface"), answering each datagram to its source from that socket
 * (clients check the answer's source address, §3.2). The engine (natpmp-engine.ts) decides.
 *
 * Announcements (§3.2.1): at start and after every external-address change (which starts a
 * new epoch), the op-0 response goes to 224.0.0.1:5350 ten times, 250 ms apart and the gap
 * doubling, each with the epoch of its own moment. A change during a run restarts the run.
 * With PCP plugged in, each send is followed by PCP's unsolicited ANNOUNCE (RFC 6887
 * §14.1.3: the same group, port and schedule), so PCP clients renew after the epoch reset
 * (miniupnpd issue #254: without it they keep mappings on the old address).
 * Must not: throw from a socket event, keep the process alive by its timers, or send an
 * announcement anywhere but the configured address.
 */
import { SourceBuckets, type SourceRate } from '../source-buckets.js';
import { createSocket } from 'node:dgram';
import { NatPmpEngine } from './natpmp-engine.js';
import type { MappingService } from '../mapping/mapping-service.js';
import type { NatPmpStats, PcpHandler } from './natpmp-engine.js';
import { NATPMP_ANNOUNCE_ADDRESS, NATPMP_CLIENT_PORT, NATPMP_SERVER_PORT } from './natpmp-wire.js';

export interface NatPmpServerOptions {
  /** The gateway's LAN address: the socket binds it. */
  readonly lanAddress: string;
  readonly lanPrefixLength: number;
  /** Default 5351. 0 picks a free port (tests). */
  readonly port?: number;
  /** Where announcements go. Default 224.0.0.1:5350 (multicast out of the LAN address). */
  readonly announceAddress?: string;
  readonly announcePort?: number;
  /** Sends per announcement run (§3.2.1: 10) and the first gap (250 ms), which doubles. */
  readonly announceCount?: number;
  readonly announceFirstGapMs?: number;
  readonly maxLifetimeSeconds?: number;
  /** NAT-PMP and PCP requests per source address (a token bucket each); past it dropped and counted. Default: no limit. */
  readonly requestRatePerSource?: SourceRate;
}

/** PCP as the server needs it: the version-2 handler and the unsolicited ANNOUNCE. */
export interface PcpEndpoint {
  readonly handle: PcpHandler;
  announcement(epochSeconds: number): Uint8Array;
}

export interface NatPmpServerComponents {
  readonly mappings: MappingService;
  /** PCP on the same socket; absent: version 2 is answered Unsupported Version. */
  readonly pcp?: PcpEndpoint;
}

export interface NatPmpServerStats extends NatPmpStats {
  readonly announcementsSent: number;
  /** PCP ANNOUNCE datagrams multicast (0 without PCP). */
  readonly pcpAnnouncementsSent: number;
  readonly sendErrors: number;
  /** Requests dropped because their source spent its `requestRatePerSource`. */
  readonly rateLimited: number;
}

export interface NatPmpServer {
  /** The bound port. */
  readonly port: number;
  readonly engine: NatPmpEngine;
  stats(): NatPmpServerStats;
  close(): Promise<void>;
}

const ANNOUNCE_COUNT = 10;
const ANNOUNCE_FIRST_GAP_MS = 250;

/** Binds the socket, starts answering and announces the external address. */
export async function startNatPmpServer(options: NatPmpServerOptions, components: NatPmpServerComponents): Promise<NatPmpServer> {
  const pcp = components.pcp;
  const engine = new NatPmpEngine({ lan: `${options.lanAddress}/${options.lanPrefixLength}`, ...(options.maxLifetimeSeconds ? { maxLifetimeSeconds: options.maxLifetimeSeconds } : {}) },
    { mappings: components.mappings, ...(pcp ? { pcp: pcp.handle } : {}) });
  const socket = createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: options.lanAddress, port: options.port ?? NATPMP_SERVER_PORT, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const announceAddress = options.announceAddress ?? NATPMP_ANNOUNCE_ADDRESS;
  if (announceAddress === NATPMP_ANNOUNCE_ADDRESS) {
    socket.setMulticastInterface(options.lanAddress);
    socket.setMulticastTTL(1);
  }
  const counts = { announcementsSent: 0, pcpAnnouncementsSent: 0, sendErrors: 0 };
  const sent = (error: Error | null): void => {
    if (error) counts.sendErrors++;
  };
  socket.on('error', () => {
    counts.sendErrors++;
  });
  const limiter = options.requestRatePerSource ? new SourceBuckets(options.requestRatePerSource) : null;
  socket.on('message', (datagram, from) => {
    if (limiter && !limiter.take(from.address)) return;
    void engine.handle(datagram, from.address).then((answer) => {
      if (answer) socket.send(answer, from.port, from.address, sent);
    }, () => {
      counts.sendErrors++;
    });
  });

  const announcer = new Announcer(options.announceCount ?? ANNOUNCE_COUNT, options.announceFirstGapMs ?? ANNOUNCE_FIRST_GAP_MS, () => {
    const port = options.announcePort ?? NATPMP_CLIENT_PORT;
    counts.announcementsSent++;
    socket.send(engine.announcement(), port, announceAddress, sent);
    if (pcp) {
      counts.pcpAnnouncementsSent++;
      socket.send(pcp.announcement(engine.epochSeconds()), port, announceAddress, sent);
    }
  });
  const unsubscribe = components.mappings.backend.onExternalAddressChange(() => {
    engine.resetEpoch();
    announcer.start();
  });
  announcer.start();

  return {
    port: socket.address().port,
    engine,
    stats: () => ({ ...engine.stats(), ...counts, rateLimited: limiter?.refused ?? 0 }),
    close: () => new Promise<void>((resolve) => {
      unsubscribe();
      announcer.stop();
      socket.close(() => resolve());
    }),
  };
}

/** Runs `send` `count` times: at once, then after gaps of first, 2·first, 4·first, ... ms. */
class Announcer {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly count: number, private readonly firstGapMs: number, private readonly send: () => void) {}

  /** Starts a run (ending any run in progress). */
  start(): void {
    this.stop();
    this.step(0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private step(sent: number): void {
    this.send();
    if (sent + 1 >= this.count) {
      this.timer = undefined;
      return;
    }
    this.timer = setTimeout(() => this.step(sent + 1), this.firstGapMs * 2 ** sent);
    this.timer.unref();
  }
}
