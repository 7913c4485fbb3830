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
 *
 * PCP mapping updates (RFC 6887 §14.2): after an external-address change (a new address
 * replacing another) the server also sends each PCP client with a MAP mapping an
 * unsolicited MAP response with the new address, to the client's address at the PCP
 * client port 5350, three times (at once,
 * then after 250 and 500 more ms, the ANNOUNCE schedule cut to three sends), each built
 * afresh (a mapping deleted meanwhile is not announced; lifetimes are those of the
 * moment). Bounded: at most `maxPerSend` mappings a send (the rest counted), and one
 * token bucket for all of them (a flood of address changes, each restarting the run,
 * cannot make more than its rate; refusals counted).
 * Must not: throw from a socket event, keep the process alive by its timers, or send an
 * announcement anywhere but the configured address, or an update anywhere but a client's.
 */
import { SourceBuckets, type SourceRate } from '../source-buckets.js';
import { createSocket } from 'node:dgram';
import { NatPmpEngine } from './natpmp-engine.js';
import type { MappingService } from '../mapping/mapping-service.js';
import type { NatPmpStats, PcpHandler } from './natpmp-engine.js';
import { NATPMP_ANNOUNCE_ADDRESS, NATPMP_CLIENT_PORT, NATPMP_SERVER_PORT } from './natpmp-wire.js';
import type { PcpUpdateBatch } from '../pcp/updates.js';

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
  /** PCP mapping updates (§14.2); defaults in PCP_UPDATE_DEFAULTS. */
  readonly pcpUpdates?: Partial<PcpUpdateOptions>;
}

export interface PcpUpdateOptions {
  /** Where clients listen (RFC 6887 §19.1: 5350). */
  readonly clientPort: number;
  /** Sends per address change, and the first gap in ms (it doubles). */
  readonly count: number;
  readonly firstGapMs: number;
  /** Most mappings one send covers; the rest are counted in pcpUpdatesSuppressed. */
  readonly maxPerSend: number;
  /** All updates together: past it they are not sent, and counted. */
  readonly rate: SourceRate;
}

export const PCP_UPDATE_DEFAULTS: PcpUpdateOptions = {
  clientPort: NATPMP_CLIENT_PORT,
  count: 3,
  firstGapMs: 250,
  maxPerSend: 1024,
  rate: { perSecond: 1024, burst: 3072 },
};

/** PCP as the server needs it: the version-2 handler, the unsolicited ANNOUNCE and mapping updates. */
export interface PcpEndpoint {
  readonly handle: PcpHandler;
  announcement(epochSeconds: number): Uint8Array;
  /** The unsolicited MAP responses after an address change (§14.2), at most `limit`; absent: none are sent. */
  mappingUpdates?(epochSeconds: number, limit: number): PcpUpdateBatch;
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
  /** Unsolicited PCP MAP responses sent after address changes (§14.2). */
  readonly pcpUpdatesSent: number;
  /** Those not sent: over `maxPerSend` or past the rate. */
  readonly pcpUpdatesSuppressed: number;
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
  const counts = { announcementsSent: 0, pcpAnnouncementsSent: 0, pcpUpdatesSent: 0, pcpUpdatesSuppressed: 0, sendErrors: 0 };
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
  const updates = pcp?.mappingUpdates === undefined ? undefined : pcpUpdater(pcp, { ...PCP_UPDATE_DEFAULTS, ...options.pcpUpdates }, {
    epochSeconds: () => engine.epochSeconds(),
    send: (bytes, port, address) => socket.send(bytes, port, address, sent),
    counts,
  });
  // The last external address clients were given: updates go out only when a new one
  // replaces it (not for the first address after a start without one, where ANNOUNCE
  // says all there is, nor for the same address again, say after a lease lost and regained).
  let knownAddress = components.mappings.backend.externalAddress();
  const unsubscribe = components.mappings.backend.onExternalAddressChange((address) => {
    engine.resetEpoch();
    announcer.start();
    if (address === '') return;
    if (knownAddress !== '' && address !== knownAddress) updates?.start();
    knownAddress = address;
  });
  announcer.start();

  return {
    port: socket.address().port,
    engine,
    stats: () => ({ ...engine.stats(), ...counts, rateLimited: limiter?.refused ?? 0 }),
    close: () => new Promise<void>((resolve) => {
      unsubscribe();
      announcer.stop();
      updates?.stop();
      socket.close(() => resolve());
    }),
  };
}

interface UpdateSink {
  epochSeconds(): number;
  send(bytes: Uint8Array, port: number, address: string): void;
  readonly counts: { pcpUpdatesSent: number; pcpUpdatesSuppressed: number };
}

/** The §14.2 schedule: each run sends every PCP client its update, within the bounds. */
function pcpUpdater(pcp: PcpEndpoint, o: PcpUpdateOptions, sink: UpdateSink): Announcer {
  const bucket = new SourceBuckets(o.rate, 1);
  return new Announcer(o.count, o.firstGapMs, () => {
    const batch = pcp.mappingUpdates!(sink.epochSeconds(), o.maxPerSend);
    sink.counts.pcpUpdatesSuppressed += batch.overLimit;
    for (const d of batch.datagrams) {
      if (!bucket.take('all')) {
        sink.counts.pcpUpdatesSuppressed++;
        continue;
      }
      sink.counts.pcpUpdatesSent++;
      sink.send(d.bytes, o.clientPort, d.address);
    }
  });
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
