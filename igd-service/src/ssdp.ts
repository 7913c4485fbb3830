/**
 * The SSDP advertiser (UDA 1.1 §1; U1) on `node:dgram`, for the LAN only.
 *
 * One UDP socket bound to 0.0.0.0:1900 (reuseAddr; binding a unicast address would not
 * receive the group's datagrams), joined to 239.255.255.250 on the LAN address only, with
 * the multicast interface pinned to the LAN address (node-ssdp leaves it to the routing
 * table and so announces out of the WAN on a two-homed host) and multicast TTL 2 (the UDA
 * makes the TTL configurable; a gateway's announcements are meant for its own LAN).
 *
 *   start  NOTIFY ssdp:alive for every advertisement, `announceRepeats` times spaced by
 *          `announceSpacingMs`, then again every notifyIntervalMs (< max-age / 2, jittered
 *          down by up to 20 %).
 *   recv   parse (ssdp-message.ts) → drop malformed (counted by reason) → drop askers
 *          outside the LAN subnet (counted) → M-SEARCH: multicast without a valid MX is
 *          dropped, unicast is answered at once, multicast after a random delay in MX
 *          (capped at 5 s) → one 200 OK per matching advertisement, unicast to the asker,
 *          each taking a token from a bucket (excess dropped and counted).
 *   stop   cancel timers and pending answers, NOTIFY ssdp:byebye for all, close.
 *
 * Must not: answer anyone outside the LAN subnet, throw on any datagram, send anything
 * after stop() resolved, or keep the process alive after stop().
 */
import { SourceBuckets, type SourceRate } from './source-buckets.js';
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { release, type as osType } from 'node:os';
import { performance } from 'node:perf_hooks';
import { SsdpConfigError, SsdpSocketError } from './errors.js';
import { parseIpv4, prefixMask } from './ipv4.js';
import {
  SSDP_DROP_REASON, SSDP_MULTICAST_ADDRESS, SSDP_PORT, formatSsdpAlive, formatSsdpByeBye,
  formatSsdpSearchResponse, parseSsdpMessage, ssdpAdvertisements, ssdpResponseDelayMs, ssdpSearchAnswers,
} from './ssdp-message.js';
import type { SsdpAdvertisement, SsdpAnnounceFields, SsdpDevice, SsdpDropReason } from './ssdp-message.js';

export interface SsdpAdvertiserOptions {
  /** The gateway's LAN address (dotted quad): multicast membership and interface. */
  readonly lanAddress: string;
  /** Prefix length of the LAN subnet: askers outside it are ignored. */
  readonly lanPrefixLength: number;
  /** URL of the root device description. */
  readonly location: string;
  /** The device tree, root first. */
  readonly devices: readonly SsdpDevice[];
  /** SERVER header, `OS/version UPnP/1.1 OpenIGD/0.1`. */
  readonly server: string;
  readonly bootId: number;
  readonly configId: number;
  /** CACHE-CONTROL max-age, seconds; ≥ 1800 per UDA 1.1. Default 1800. */
  readonly maxAgeSeconds?: number;
  /** Re-announce period, ms; must be below max-age / 2. Default max-age / 3. */
  readonly notifyIntervalMs?: number;
  /** How many times the alive set is sent at start. Default 3. */
  readonly announceRepeats?: number;
  /** Spacing of those repeats, ms. Default 200. */
  readonly announceSpacingMs?: number;
  /** Port bound for the group and for unicast searches. Default 1900; 0 (any) in tests. */
  readonly port?: number;
  /** Destination port of NOTIFYs. Default 1900; tests point it at their own listener. */
  readonly multicastPort?: number;
  /** IP_MULTICAST_TTL. Default 2. */
  readonly multicastTtl?: number;
  /** Token bucket of search answers: refill per second and depth. Default 100/s, 200. */
  readonly responseRate?: { readonly perSecond: number; readonly burst: number };
  /**
   * The same per asking address, taken first, so that one host's searches cannot spend the
   * bucket above for everyone. Default 30/s, 60 (an `ssdp:all` search costs one per answer).
   */
  readonly responseRatePerSource?: SourceRate;
}

/** Injected parts, kept apart from options. */
export interface SsdpAdvertiserComponents {
  /** Uniform in [0, 1): answer delays and announce jitter. Default Math.random. */
  readonly random?: () => number;
  /** Wall clock, ms since epoch, for the DATE header. Default Date.now. */
  readonly wallClockMs?: () => number;
  /** Monotonic clock, ms, for the token bucket. Default performance.now. */
  readonly monotonicMs?: () => number;
  /** Observer of every datagram handed to the socket (after a successful send). */
  readonly onSent?: (datagram: string, address: string, port: number) => void;
}

export interface SsdpCounters {
  readonly received: number;
  /** Malformed datagrams by reason. */
  readonly malformed: Readonly<Record<SsdpDropReason, number>>;
  /** From outside the LAN subnet (or not IPv4). */
  readonly outsideLan: number;
  /** NOTIFYs, responses and other methods: not ours to answer. */
  readonly ignored: number;
  readonly searches: number;
  /** Multicast M-SEARCH without a valid MX. */
  readonly searchesWithoutMx: number;
  readonly searchesUnmatched: number;
  readonly responsesSent: number;
  readonly responsesRateLimited: number;
  readonly notifiesSent: number;
  readonly sendErrors: number;
}

type MutableCounters = { -readonly [K in keyof SsdpCounters]: SsdpCounters[K] } & {
  malformed: Record<SsdpDropReason, number>;
};

const DEFAULT_MAX_AGE_SECONDS = 1800;
const MAX_PENDING_ANSWERS = 1024;

/**
 * The SERVER header of UDA 1.1 §1.2.2, `OS/version UPnP/1.1 product/version`, e.g.
 * `Linux/6.1.0-18-amd64 UPnP/1.1 OpenIGD/0.1`. Spaces and slashes inside a part become '-'.
 */
export function ssdpServerString(productVersion = '0.1', osName = osType(), osVersion = release()): string {
  const token = (s: string): string => s.replace(/[\s/]+/g, '-') || 'unknown';
  return `${token(osName)}/${token(osVersion)} UPnP/1.1 OpenIGD/${token(productVersion)}`;
}

function isPortNumber(v: number, allowZero: boolean): boolean {
  return Number.isInteger(v) && v >= (allowZero ? 0 : 1) && v <= 65_535;
}

/** Announces the device tree on the LAN and answers searches from it. One instance per LAN. */
export class SsdpAdvertiser {
  private readonly lanAddress: string;
  private readonly lanNetwork: number;
  private readonly lanMask: number;
  private readonly advertisements: SsdpAdvertisement[];
  private fields: SsdpAnnounceFields;
  private readonly notifyIntervalMs: number;
  private readonly announceRepeats: number;
  private readonly announceSpacingMs: number;
  private readonly port: number;
  private readonly multicastPort: number;
  private readonly multicastTtl: number;
  private readonly ratePerSecond: number;
  private readonly perSource: SourceBuckets;
  private readonly rateBurst: number;
  private readonly random: () => number;
  private readonly wallClockMs: () => number;
  private readonly monotonicMs: () => number;
  private readonly onSent: ((datagram: string, address: string, port: number) => void) | undefined;

  private socket: Socket | undefined;
  private running = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private tokens: number;
  private tokensAtMs = 0;
  private readonly stats: MutableCounters;

  /** Throws SsdpConfigError on options that cannot work. */
  constructor(options: SsdpAdvertiserOptions, components: SsdpAdvertiserComponents = {}) {
    const lan = parseIpv4(options.lanAddress);
    if (lan === undefined) throw new SsdpConfigError('lanAddress', 'not a dotted-quad IPv4 address');
    if (!Number.isInteger(options.lanPrefixLength) || options.lanPrefixLength < 0 || options.lanPrefixLength > 32) {
      throw new SsdpConfigError('lanPrefixLength', 'must be an integer 0..32');
    }
    if (options.devices.length === 0) throw new SsdpConfigError('devices', 'needs at least the root device');
    const maxAgeSeconds = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
    if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 1) throw new SsdpConfigError('maxAgeSeconds', 'must be a positive integer');
    const notifyIntervalMs = options.notifyIntervalMs ?? Math.floor((maxAgeSeconds * 1000) / 3);
    // UDA 1.1 §1.2.2: advertisements are re-sent "at a random interval less than one-half of the advertisement expiration time".
    if (!(notifyIntervalMs > 0 && notifyIntervalMs < (maxAgeSeconds * 1000) / 2)) {
      throw new SsdpConfigError('notifyIntervalMs', `must be positive and below max-age / 2 (${(maxAgeSeconds * 1000) / 2} ms)`);
    }
    const port = options.port ?? SSDP_PORT;
    if (!isPortNumber(port, true)) throw new SsdpConfigError('port', 'must be 0..65535');
    const multicastPort = options.multicastPort ?? SSDP_PORT;
    if (!isPortNumber(multicastPort, false)) throw new SsdpConfigError('multicastPort', 'must be 1..65535');
    const rate = options.responseRate ?? { perSecond: 100, burst: 200 };
    if (!(rate.perSecond > 0 && rate.burst >= 1)) throw new SsdpConfigError('responseRate', 'needs perSecond > 0 and burst ≥ 1');
    for (const [field, value] of [['bootId', options.bootId], ['configId', options.configId]] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 0x7fff_ffff) throw new SsdpConfigError(field, 'must be a 31-bit integer');
    }
    for (const [field, value] of [['location', options.location], ['server', options.server]] as const) {
      if (value.length === 0 || /[\r\n]/.test(value)) throw new SsdpConfigError(field, 'must be non-empty, one line');
    }

    this.lanAddress = options.lanAddress;
    this.lanMask = prefixMask(options.lanPrefixLength);
    this.lanNetwork = (lan & this.lanMask) >>> 0;
    this.advertisements = ssdpAdvertisements(options.devices);
    this.port = port;
    this.multicastPort = multicastPort;
    this.fields = {
      location: options.location,
      maxAgeSeconds,
      server: options.server,
      bootId: options.bootId,
      configId: options.configId,
    };
    this.notifyIntervalMs = notifyIntervalMs;
    this.announceRepeats = Math.max(1, Math.floor(options.announceRepeats ?? 3));
    this.announceSpacingMs = Math.max(0, options.announceSpacingMs ?? 200);
    this.multicastTtl = options.multicastTtl ?? 2;
    this.ratePerSecond = rate.perSecond;
    this.rateBurst = rate.burst;
    this.tokens = rate.burst;
    this.random = components.random ?? Math.random;
    this.wallClockMs = components.wallClockMs ?? Date.now;
    this.monotonicMs = components.monotonicMs ?? (() => performance.now());
    this.perSource = new SourceBuckets(options.responseRatePerSource ?? { perSecond: 30, burst: 60 }, 1024, this.monotonicMs);
    this.onSent = components.onSent;
    const malformed = Object.fromEntries(Object.values(SSDP_DROP_REASON).map((r) => [r, 0])) as Record<SsdpDropReason, number>;
    this.stats = {
      received: 0, malformed, outsideLan: 0, ignored: 0, searches: 0, searchesWithoutMx: 0, searchesUnmatched: 0,
      responsesSent: 0, responsesRateLimited: 0, notifiesSent: 0, sendErrors: 0,
    };
  }

  /** The advertisements (NT, USN) this advertiser sends. */
  advertised(): readonly SsdpAdvertisement[] {
    return this.advertisements;
  }

  /** A snapshot of the counters. */
  counters(): SsdpCounters {
    return { ...this.stats, malformed: { ...this.stats.malformed } };
  }

  /** The bound address and port (the port is useful when options.port was 0). */
  address(): { address: string; port: number } {
    if (!this.socket) throw new SsdpSocketError('ssdp advertiser is not started');
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /**
   * Binds, joins the group on the LAN address, sends the first alive set (resolves after it),
   * and schedules the repeats and the periodic announcements. Rejects SsdpSocketError.
   */
  async start(): Promise<void> {
    if (this.socket) throw new SsdpSocketError('ssdp advertiser already started');
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    this.socket = socket;
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: this.port, address: '0.0.0.0', exclusive: false }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.addMembership(SSDP_MULTICAST_ADDRESS, this.lanAddress);
      socket.setMulticastInterface(this.lanAddress);
      socket.setMulticastTTL(this.multicastTtl);
      socket.setMulticastLoopback(true);
    } catch (cause) {
      this.socket = undefined;
      await new Promise<void>((resolve) => socket.close(() => resolve())).catch(() => undefined);
      throw new SsdpSocketError(`cannot open SSDP on ${this.lanAddress} port ${this.port}`, { cause });
    }
    // SEARCHPORT.UPNP.ORG names the port unicast searches reach when it is not 1900.
    this.fields = { ...this.fields, searchPort: socket.address().port };
    socket.on('error', () => {
      this.stats.sendErrors++;
    });
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    this.running = true;
    await this.announce();
    for (let i = 1; i < this.announceRepeats; i++) this.after(i * this.announceSpacingMs, () => this.announce());
    this.scheduleNextRound();
  }

  /** Cancels everything pending, sends ssdp:byebye for every advertisement, closes the socket. */
  async stop(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const ad of this.advertisements) {
      await this.send(formatSsdpByeBye(ad, this.fields), SSDP_MULTICAST_ADDRESS, this.multicastPort, 'notify');
    }
    this.socket = undefined;
    try {
      socket.dropMembership(SSDP_MULTICAST_ADDRESS, this.lanAddress);
    } catch {
      // Leaving the group can only fail if the address went away; closing leaves it anyway.
    }
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private after(delayMs: number, run: () => unknown): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.running) void run();
    }, delayMs);
    this.timers.add(timer);
  }

  private scheduleNextRound(): void {
    const delayMs = Math.floor(this.notifyIntervalMs * (0.8 + 0.2 * this.random()));
    this.after(delayMs, async () => {
      await this.announce();
      if (this.running) this.scheduleNextRound();
    });
  }

  private async announce(): Promise<void> {
    for (const ad of this.advertisements) {
      if (!this.running) return;
      await this.send(formatSsdpAlive(ad, this.fields), SSDP_MULTICAST_ADDRESS, this.multicastPort, 'notify');
    }
  }

  private send(datagram: string, address: string, port: number, kind: 'notify' | 'response'): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (error: Error | null): void => {
        if (error) {
          this.stats.sendErrors++;
        } else {
          if (kind === 'notify') this.stats.notifiesSent++;
          else this.stats.responsesSent++;
          this.onSent?.(datagram, address, port);
        }
        resolve();
      };
      try {
        socket.send(datagram, port, address, done);
      } catch (error) {
        done(error as Error);
      }
    });
  }

  private inLan(rinfo: RemoteInfo): boolean {
    if (rinfo.family !== 'IPv4') return false;
    const source = parseIpv4(rinfo.address);
    return source !== undefined && ((source & this.lanMask) >>> 0) === this.lanNetwork;
  }

  private takeToken(source: string): boolean {
    if (!this.perSource.take(source)) return false;
    const nowMs = this.monotonicMs();
    this.tokens = Math.min(this.rateBurst, this.tokens + ((nowMs - this.tokensAtMs) * this.ratePerSecond) / 1000);
    this.tokensAtMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private receive(msg: Uint8Array, rinfo: RemoteInfo): void {
    this.stats.received++;
    if (!this.running) return;
    if (!this.inLan(rinfo)) {
      this.stats.outsideLan++;
      return;
    }
    const parsed = parseSsdpMessage(msg);
    if (!parsed.ok) {
      this.stats.malformed[parsed.reason]++;
      return;
    }
    if (parsed.message.kind !== 'search') {
      this.stats.ignored++;
      return;
    }
    const search = parsed.message.search;
    this.stats.searches++;
    const delayMs = ssdpResponseDelayMs(search, this.random());
    if (delayMs === undefined) {
      this.stats.searchesWithoutMx++;
      return;
    }
    const answers = ssdpSearchAnswers(search.st, this.advertisements);
    if (answers.length === 0) {
      this.stats.searchesUnmatched++;
      return;
    }
    // Tokens are taken now, so the answers waiting in timers are bounded by the bucket too.
    const granted = answers.filter(() => this.takeToken(rinfo.address));
    this.stats.responsesRateLimited += answers.length - granted.length;
    if (granted.length === 0) return;
    if (this.timers.size >= MAX_PENDING_ANSWERS) {
      this.stats.responsesRateLimited += granted.length;
      return;
    }
    const to = { address: rinfo.address, port: rinfo.port };
    this.after(delayMs, async () => {
      for (const answer of granted) {
        if (!this.running) return;
        await this.send(formatSsdpSearchResponse(answer, this.fields, this.wallClockMs()), to.address, to.port, 'response');
      }
    });
  }
}
