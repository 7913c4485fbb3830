/**
 * The one mapping table behind every protocol (UPnP IGD, NAT-PMP, PCP): the authoritative
 * list of mappings (in memory, in insertion order), kept durable through a MappingStore and
 * applied to the packet path through a PortMappingBackend. The protocol front ends are thin:
 * they parse, call this, and answer in their own words.
 *
 *   put          one exact key. 716 wildcard port → expire what is due → a mapping of another
 *                protocol holds the key: conflict (heldBy says which) → the overwrite rule
 *                (mapping-rules.ts) → access policy (limits count adds still in flight) →
 *                backend.apply → store.put (durable) → table → change event.
 *                A store failure undoes the backend change and answers action-failed: a
 *                success is never answered for a change that is not on disk. An identical
 *                re-add with lease 0 touches nothing; with a lease it only writes the new
 *                expiry (no backend call): renewals are cheap.
 *   mapEndpoint  NAT-PMP / PCP / AddAnyPortMapping: the mapping of one internal endpoint
 *                (client, internal port, protocol) of one origin. Its existing mapping is
 *                renewed; otherwise the suggested external port is tried, then (unless
 *                'exact': PCP's PREFER_FAILURE) free ports chosen by allocate().
 *   delete       716 → expire due → no-such-entry → policy → store.delete → backend.remove.
 *   expire       mappings whose lease ran out leave the table and the backend at once; their
 *                store deletes are issued then and there (so they reach the store before any
 *                later put of the same key) and a failed one is harmless: start() drops them.
 *   start        replays the stored mappings into the backend, dropping expired ones; a mapping
 *                the backend refuses stays listed (it is the client's durable intent).
 *
 * Changes of one key are serialised (a check and its write never interleave with another
 * change of that key), and so are changes of one internal endpoint through mapEndpoint;
 * changes of different keys overlap, so their store writes share one sync (the store's group
 * commit). Time comes from the injected clock (wall clock ms: expiry is stored absolute).
 * Must not: answer success before the store resolved, run timers (the owner calls expire()),
 * speak any protocol's wire format, or throw on a domain outcome (those are `{ ok: false }`).
 */
import type { AccessPolicy, PortMappingRequest } from '../mapping-rules.js';
import { checkAccessPolicy, checkDeletePolicy, decideAddPortMapping } from '../mapping-rules.js';
import type { ActionFailure } from '../faults.js';
import { actionFailure } from '../faults.js';
import type { MappingFilter, MappingKey, MappingOrigin, MappingProtocol, MappingStore, PortMapping, PortMappingBackend } from '../types.js';

/** A request to map, from any protocol: the mapping's fields and who asks, through what. */
export interface MappingRequest extends PortMappingRequest {
  readonly origin: MappingOrigin;
  /** The asking address (HTTP peer, UDP source). */
  readonly requester: string;
  /** PCP only: the mapping nonce, 24 lowercase hex digits. */
  readonly nonce?: string;
  /**
   * The gateway's operator asks (the admin API), not a client: the clients' access policy
   * (secure mode, rules, limits, lease and port rules) does not apply; the table's cap, the
   * overwrite rule and other protocols' keys still do.
   */
  readonly operator?: boolean;
  /** PCP only: the whole FILTER set the mapping has after this request (empty or absent: none). */
  readonly filters?: readonly MappingFilter[];
}

/** An inclusive range of external ports. */
export interface PortRange {
  readonly minimum: number;
  readonly maximum: number;
}

export interface MappingServiceOptions {
  readonly policy?: AccessPolicy;
  /** Where allocate() looks for free external ports. Default 1024–65535. */
  readonly allocationRange?: PortRange;
}

export interface MappingServiceComponents {
  readonly store: MappingStore;
  readonly backend: PortMappingBackend;
  /** Wall clock, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

export interface MappingStartReport {
  readonly replayed: number;
  /** Stored mappings whose lease had run out: dropped. */
  readonly expired: number;
  /** Stored mappings the backend refused: kept in the table, not forwarding. */
  readonly refused: ReadonlyArray<{ readonly mapping: PortMapping; readonly reason: 'port-in-use' | 'invalid' }>;
}

/**
 * A key the request may not take: 'conflict' when a mapping of the same protocol holds it for
 * another client or endpoint, 'conflict-with-other-mechanism' when another protocol's mapping
 * or the packet path holds it. `heldBy` names the protocol of the mapping, when one holds it.
 */
export interface MappingConflict extends ActionFailure<'conflict' | 'conflict-with-other-mechanism'> {
  readonly heldBy?: MappingOrigin;
}

/** A mapping of the endpoint exists with another PCP nonce (RFC 6887 §11.3): it is returned so PCP can answer its lifetime. */
export interface NonceMismatch extends ActionFailure<'not-authorized'> {
  readonly mapping: PortMapping;
}

/** A limit of the access policy was reached: the client's own (PCP's USER_EX_QUOTA) or the table's. */
export interface LimitReached extends ActionFailure<'no-port-maps-available'> {
  readonly limit: 'per-client' | 'table';
}

export type PutMappingResult =
  | { readonly ok: true; readonly mapping: PortMapping; readonly kind: 'create' | 'replace' | 'renew' }
  | MappingConflict
  | NonceMismatch
  | LimitReached
  | ActionFailure;

export type DeleteMappingResult = { readonly ok: true; readonly mapping: PortMapping } | ActionFailure;

/** What changed in the table: after every durable change, and once per expiry batch. */
export interface MappingChange {
  readonly kind: 'create' | 'replace' | 'renew' | 'delete' | 'expire';
  readonly mappings: readonly PortMapping[];
}

export interface MappingServiceStats {
  readonly mappings: number;
  readonly adds: number;
  readonly renewals: number;
  readonly deletes: number;
  readonly expired: number;
  readonly storeFailures: number;
  readonly listenerErrors: number;
}

/** The table's cap: UPnP's PortMappingNumberOfEntries and GetGeneric index are ui2. */
export const MAX_MAPPING_ENTRIES = 0xffff;

/** Ports mapEndpoint tries before it answers no-port-maps-available. */
const MAX_ALLOCATION_ATTEMPTS = 16;
/** Refusals of one port after which mapEndpoint tries another. */
const RETRY_ON: ReadonlySet<string> = new Set(['conflict', 'conflict-with-other-mechanism', 'not-authorized']);

const DEFAULT_ALLOCATION_RANGE: PortRange = { minimum: 1024, maximum: 65_535 };
const NO_PORTS: ReadonlySet<number> = new Set();

/** The Map key of a mapping: protocol, external port, remote host. */
export function mappingKey(key: MappingKey): string {
  return `${key.protocol}/${key.externalPort}/${key.remoteHost}`;
}

function endpointKey(protocol: MappingProtocol, internalClient: string, internalPort: number): string {
  return `${protocol}/${internalClient}/${internalPort}`;
}

/** Seconds left of a mapping's lease at `nowMs`, at least 1 while it lasts; 0 for a static mapping. */
export function remainingLeaseSeconds(mapping: PortMapping, nowMs: number): number {
  return mapping.expiresAtMs === 0 ? 0 : Math.max(1, Math.ceil((mapping.expiresAtMs - nowMs) / 1000));
}

function protocolIndex(protocol: MappingProtocol): number {
  return protocol === 'TCP' ? 0 : 65_536;
}

export class MappingService {
  /** The packet path; front ends read the external address and link state through it. */
  readonly backend: PortMappingBackend;
  /** The wall clock the leases run on, ms since the epoch; front ends share it. */
  readonly clock: () => number;
  private readonly store: MappingStore;
  private readonly policy: AccessPolicy;
  private readonly range: PortRange;

  private readonly mappings = new Map<string, PortMapping>();
  private readonly perClient = new Map<string, number>();
  /** Mapping keys by internal endpoint (protocol/client/port). */
  private readonly byEndpoint = new Map<string, Set<string>>();
  /** Mappings (any remote host) and allocations in flight per protocol and external port. */
  private readonly portUse = new Uint16Array(2 * 65_536);
  /** Keys the backend refused at start: an identical re-add must apply them for real. */
  private readonly unapplied = new Set<string>();
  private listCache: PortMapping[] | undefined;
  private nextExpiry = Number.POSITIVE_INFINITY;
  /** The tail of the queue of changes per key, and how many changes of it are queued or running. */
  private readonly keyQueues = new Map<string, Promise<void>>();
  private readonly keyBusy = new Map<string, number>();
  /** New entries whose store write is in flight, in total and per internal client (for limits). */
  private pendingCreates = 0;
  private readonly pendingPerClient = new Map<string, number>();
  private readonly listeners = new Set<(change: MappingChange) => void>();
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private started: Promise<MappingStartReport> | undefined;
  private readonly counts = { adds: 0, renewals: 0, deletes: 0, expired: 0, storeFailures: 0, listenerErrors: 0 };

  constructor(options: MappingServiceOptions, components: MappingServiceComponents) {
    this.store = components.store;
    this.backend = components.backend;
    this.clock = components.now ?? Date.now;
    this.policy = options.policy ?? {};
    this.range = options.allocationRange ?? DEFAULT_ALLOCATION_RANGE;
  }

  /**
   * Loads the store and replays it into the backend; a second call returns the first one's
   * report. Rejects when the store cannot be read (StoreCorruptError / StoreIoError).
   */
  start(): Promise<MappingStartReport> {
    this.started ??= this.load();
    return this.started;
  }

  /** Stops taking changes. The store is the owner's to close. */
  close(): void {
    this.state = 'closed';
  }

  isStarted(): boolean {
    return this.state === 'started';
  }

  // ---- reads -----------------------------------------------------------------------------

  count(): number {
    return this.mappings.size;
  }

  /** The table in insertion order (a replacement keeps its place). Shared: do not modify it. */
  list(): readonly PortMapping[] {
    this.listCache ??= [...this.mappings.values()];
    return this.listCache;
  }

  /** The mapping of a key, or undefined; a due mapping still listed counts as gone. */
  get(key: MappingKey): PortMapping | undefined {
    const mapping = this.mappings.get(mappingKey(key));
    return mapping && !this.isDue(mapping, this.clock()) ? mapping : undefined;
  }

  /** The live mappings whose internal side is this endpoint (internal port 0: every port of the client). */
  endpointMappings(protocol: MappingProtocol, internalClient: string, internalPort: number): PortMapping[] {
    const nowMs = this.clock();
    const out: PortMapping[] = [];
    if (internalPort !== 0) {
      for (const key of this.byEndpoint.get(endpointKey(protocol, internalClient, internalPort)) ?? []) {
        const m = this.mappings.get(key);
        if (m && !this.isDue(m, nowMs)) out.push(m);
      }
      return out;
    }
    for (const m of this.mappings.values()) {
      if (m.protocol === protocol && m.internalClient === internalClient && !this.isDue(m, nowMs)) out.push(m);
    }
    return out;
  }

  /**
   * The one way any front end picks a free external port of `protocol` (NAT-PMP, PCP, IGD:2's
   * AddAnyPortMapping): `preferredPort` if no mapping holds it, else the free port of the
   * allocation range nearest to it (+1, −1, +2, −2, …, as miniupnpd does, so a client asking
   * for 8080 gets 8081), skipping `exclude`; undefined when the range has none. A port is held
   * when any mapping of that protocol holds it, whatever its remote host, or an allocation is
   * in flight on it. Free in the table only: the backend may still refuse it.
   */
  allocate(preferredPort: number, protocol: MappingProtocol, exclude: ReadonlySet<number> = NO_PORTS): number | undefined {
    const base = protocolIndex(protocol);
    const isFree = (port: number): boolean => this.portUse[base + port] === 0 && !exclude.has(port);
    if (preferredPort >= 1 && preferredPort <= 65_535 && isFree(preferredPort)) return preferredPort;
    const { minimum, maximum } = this.range;
    const start = Math.min(Math.max(preferredPort, minimum), maximum);
    for (let distance = 0; start + distance <= maximum || start - distance >= minimum; distance++) {
      if (start + distance <= maximum && isFree(start + distance)) return start + distance;
      if (distance > 0 && start - distance >= minimum && isFree(start - distance)) return start - distance;
    }
    return undefined;
  }

  /** When the next lease runs out (ms, wall clock), or undefined when none will. */
  nextExpiryMs(): number | undefined {
    return Number.isFinite(this.nextExpiry) ? this.nextExpiry : undefined;
  }

  /** Listens to changes of the table; returns the unsubscribe function. */
  onChange(listener: (change: MappingChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  stats(): MappingServiceStats {
    return { mappings: this.mappings.size, ...this.counts };
  }

  // ---- changes ---------------------------------------------------------------------------

  /** Creates, replaces or renews the mapping of exactly this key (UPnP AddPortMapping's rule). */
  put(request: MappingRequest): Promise<PutMappingResult> {
    return this.putKey(request, 'same-client');
  }

  /**
   * The mapping of one internal endpoint for `request.origin`, wildcard remote host:
   * renews the one it has (at its external port); else maps `request.externalPort` when
   * free (0: no preference), else, with 'preferred', another port from allocate().
   * With 'exact', any other port is a conflict (PCP's PREFER_FAILURE).
   */
  mapEndpoint(request: MappingRequest, portChoice: 'preferred' | 'exact'): Promise<PutMappingResult> {
    const lock = `endpoint/${endpointKey(request.protocol, request.internalClient, request.internalPort)}`;
    return this.withKey(lock, async () => {
      const own = this.endpointMappings(request.protocol, request.internalClient, request.internalPort)
        .find((m) => m.origin === request.origin && m.remoteHost === '');
      if (own) {
        if (own.nonce !== request.nonce) return { ...actionFailure('not-authorized', 'the mapping has another nonce'), mapping: own };
        if (portChoice === 'exact' && request.externalPort !== own.externalPort) {
          return { ...actionFailure('conflict', `the endpoint is mapped on port ${own.externalPort}`), heldBy: own.origin };
        }
        return this.putKey({ ...request, remoteHost: '', externalPort: own.externalPort }, 'same-endpoint');
      }
      return this.mapFreePort({ ...request, remoteHost: '' }, portChoice);
    });
  }

  /** Deletes the mapping of a key for `requester`; `operator`: the admin API asks, the clients' policy does not apply. */
  delete(key: MappingKey, requester: string, operator = false): Promise<DeleteMappingResult> {
    return this.changeKey(key, async (k): Promise<DeleteMappingResult> => {
      const mapping = this.mappings.get(k);
      if (!mapping) return actionFailure('no-such-entry', `no mapping ${k}`);
      const allowed = operator ? { ok: true as const } : checkDeletePolicy(this.policy, mapping, requester);
      if (!allowed.ok) return allowed;
      try {
        await this.store.delete(mapping);
      } catch (e) {
        this.counts.storeFailures++;
        return actionFailure('action-failed', `store: ${errorText(e)}`);
      }
      this.backend.remove(mapping);
      this.erase(k, mapping);
      this.counts.deletes++;
      this.emit('delete', [mapping]);
      return { ok: true, mapping };
    });
  }

  /**
   * Removes every mapping whose lease ended at or before `nowMs` (default: the clock), from the
   * table and the backend at once, and from the store; resolves with what it removed once the
   * store deletes settled. A key with a change in flight is left to that change.
   */
  async expire(nowMs: number = this.clock()): Promise<PortMapping[]> {
    const { removed, stored } = this.expireDue(nowMs);
    await stored;
    return removed;
  }

  // ---- internals -------------------------------------------------------------------------

  private async load(): Promise<MappingStartReport> {
    if (this.state !== 'new') throw new Error(`MappingService.start() called when ${this.state}`);
    this.state = 'starting';
    const stored = await this.store.load();
    const nowMs = this.clock();
    let expired = 0;
    const refused: Array<{ mapping: PortMapping; reason: 'port-in-use' | 'invalid' }> = [];
    for (const mapping of stored) {
      if (this.isDue(mapping, nowMs)) {
        expired++;
        await this.store.delete(mapping).catch(() => {
          this.counts.storeFailures++;
        });
        continue;
      }
      const key = mappingKey(mapping);
      const applied = this.backend.apply(mapping);
      if (!applied.ok) {
        refused.push({ mapping, reason: applied.reason });
        this.unapplied.add(key);
      }
      this.insert(key, mapping);
    }
    this.state = 'started';
    return { replayed: stored.length - expired, expired, refused };
  }

  /** Tries the suggested port if free, then (unless 'exact') others, each as an exact put that takes only a free key. */
  private async mapFreePort(request: MappingRequest, portChoice: 'preferred' | 'exact'): Promise<PutMappingResult> {
    const base = protocolIndex(request.protocol);
    const tried = new Set<number>();
    let port: number | undefined = this.allocate(request.externalPort, request.protocol);
    let last: PutMappingResult = actionFailure('no-port-maps-available', `every ${request.protocol} port of the range is mapped`);
    for (let attempt = 0; attempt < MAX_ALLOCATION_ATTEMPTS && port !== undefined; attempt++) {
      if (portChoice === 'exact' && request.externalPort !== 0 && port !== request.externalPort) {
        return actionFailure('conflict', `${request.protocol} ${request.externalPort} is mapped`);
      }
      const companion = this.companionHolder(request, port);
      if (companion) {
        last = { ...actionFailure('conflict', `${request.protocol} ${port}'s companion is mapped to ${companion.internalClient}`), heldBy: companion.origin };
      } else {
        // Held while the put runs, so that a concurrent allocation picks another port.
        this.portUse[base + port]!++;
        try {
          last = await this.putKey({ ...request, externalPort: port }, 'same-endpoint');
        } finally {
          this.portUse[base + port]!--;
        }
      }
      if (last.ok || !RETRY_ON.has(last.reason)) return last;
      if (portChoice === 'exact') return last;
      tried.add(port);
      port = this.allocate(request.externalPort, request.protocol, tried);
    }
    return !last.ok && last.reason !== 'not-authorized' ? actionFailure('no-port-maps-available', `no free ${request.protocol} port found`) : last;
  }

  /**
   * RFC 6886 §3.3: "the NAT gateway MUST reserve the companion port so the same client can
   * choose to map it in the future": the NAT-PMP mapping of the same port number in the other
   * protocol, when it belongs to another internal client.
   */
  private companionHolder(request: MappingRequest, port: number): PortMapping | undefined {
    const other = this.mappings.get(mappingKey({ remoteHost: '', externalPort: port, protocol: request.protocol === 'TCP' ? 'UDP' : 'TCP' }));
    return other && other.origin === 'natpmp' && other.internalClient !== request.internalClient ? other : undefined;
  }

  /**
   * One exact key. `rule`: 'same-client' is UPnP's overwrite rule (the same internal client
   * may re-point the mapping); 'same-endpoint' takes a key only when it is free or already
   * maps the same internal endpoint.
   */
  private putKey(request: MappingRequest, rule: 'same-client' | 'same-endpoint'): Promise<PutMappingResult> {
    return this.changeKey(request, async (key, nowMs): Promise<PutMappingResult> => {
      const existing = this.mappings.get(key);
      if (existing && existing.origin !== request.origin) {
        return { ...actionFailure('conflict-with-other-mechanism', `${request.protocol} ${request.externalPort} is held through ${existing.origin}`), heldBy: existing.origin };
      }
      if (existing && rule === 'same-endpoint' && (existing.internalClient !== request.internalClient || existing.internalPort !== request.internalPort)) {
        return { ...actionFailure('conflict', `${request.protocol} ${request.externalPort} maps ${existing.internalClient}:${existing.internalPort}`), heldBy: existing.origin };
      }
      const decision = decideAddPortMapping(existing, request);
      if (!decision.ok) return { ...decision, heldBy: existing!.origin };
      const isNew = decision.kind === 'create';
      const counts = {
        total: this.mappings.size + this.pendingCreates,
        forInternalClient: (this.perClient.get(request.internalClient) ?? 0) + (this.pendingPerClient.get(request.internalClient) ?? 0),
      };
      const policy = request.operator ? { ok: true as const } : checkAccessPolicy(this.policy, request, request.requester, counts, isNew);
      if (!policy.ok) {
        if (policy.reason !== 'no-port-maps-available') return policy;
        const perClient = this.policy.maxMappingsPerClient !== undefined && counts.forInternalClient >= this.policy.maxMappingsPerClient;
        return { ...policy, limit: perClient ? 'per-client' : 'table' };
      }
      if (isNew && counts.total >= MAX_MAPPING_ENTRIES) {
        return { ...actionFailure('no-port-maps-available', `the table holds ${MAX_MAPPING_ENTRIES} mappings, the most a ui2 index can list`), limit: 'table' };
      }
      const mapping = toMapping(request, nowMs);
      if (decision.kind === 'replace' && decision.identical && existing!.nonce === request.nonce
        && sameFilters(existing!.filters, mapping.filters) && !this.unapplied.has(key)) {
        return this.renew(key, decision.previous, mapping);
      }
      return this.apply(key, existing, mapping, isNew, decision.kind);
    });
  }

  /** An identical re-add: nothing to do for a static mapping, else only the new expiry is written. */
  private async renew(key: string, previous: PortMapping, mapping: PortMapping): Promise<PutMappingResult> {
    if (mapping.leaseSeconds === 0) {
      this.counts.renewals++;
      return { ok: true, mapping: previous, kind: 'renew' };
    }
    try {
      await this.store.put(mapping);
    } catch (e) {
      this.counts.storeFailures++;
      return actionFailure('action-failed', `store: ${errorText(e)}`);
    }
    this.insert(key, mapping);
    this.counts.renewals++;
    this.emit('renew', [mapping]);
    return { ok: true, mapping, kind: 'renew' };
  }

  /** A new or changed mapping: packet path first, then the store; a store failure undoes the packet path. */
  private async apply(key: string, existing: PortMapping | undefined, mapping: PortMapping, isNew: boolean,
    kind: 'create' | 'replace'): Promise<PutMappingResult> {
    const applied = this.backend.apply(mapping);
    if (!applied.ok) {
      return applied.reason === 'port-in-use'
        ? actionFailure('conflict-with-other-mechanism', `the packet path holds ${mapping.protocol} ${mapping.externalPort} for another mechanism`)
        : actionFailure('invalid-args', 'the packet path refused the mapping as invalid');
    }
    if (isNew) this.adjustPending(mapping.internalClient, +1);
    try {
      await this.store.put(mapping);
    } catch (e) {
      this.counts.storeFailures++;
      if (existing && !this.unapplied.has(key)) this.backend.apply(existing);
      else this.backend.remove(mapping);
      return actionFailure('action-failed', `store: ${errorText(e)}`);
    } finally {
      if (isNew) this.adjustPending(mapping.internalClient, -1);
    }
    this.unapplied.delete(key);
    this.insert(key, mapping);
    this.counts.adds++;
    this.emit(kind, [mapping]);
    return { ok: true, mapping, kind };
  }

  /**
   * A change of one key: refused for the wildcard external port 0; otherwise `op` runs after
   * every earlier change of the same key, once started and an expired lease on that key is gone.
   */
  private changeKey<T>(key: MappingKey, op: (k: string, nowMs: number) => Promise<T>): Promise<T | ActionFailure> {
    if (key.externalPort === 0) {
      return Promise.resolve(actionFailure('external-port-wildcard-not-permitted', 'external port 0 (wildcard) is not supported'));
    }
    const k = mappingKey(key);
    return this.withKey(k, async () => {
      if (this.state !== 'started') return actionFailure('action-failed', `the mapping table is ${this.state}`);
      const nowMs = this.clock();
      this.expireDue(nowMs, k);
      return op(k, nowMs);
    });
  }

  /** Runs `op` after every earlier operation under the same key. */
  private withKey<T>(key: string, op: () => Promise<T>): Promise<T> {
    this.keyBusy.set(key, (this.keyBusy.get(key) ?? 0) + 1);
    const run = (this.keyQueues.get(key) ?? Promise.resolve()).then(op).finally(() => {
      const busy = (this.keyBusy.get(key) ?? 1) - 1;
      if (busy > 0) {
        this.keyBusy.set(key, busy);
      } else {
        this.keyBusy.delete(key);
        this.keyQueues.delete(key);
      }
    });
    this.keyQueues.set(key, run.then(() => undefined, () => undefined));
    return run;
  }

  private adjustPending(client: string, delta: number): void {
    this.pendingCreates += delta;
    const count = (this.pendingPerClient.get(client) ?? 0) + delta;
    if (count <= 0) this.pendingPerClient.delete(client);
    else this.pendingPerClient.set(client, count);
  }

  private isDue(mapping: PortMapping, nowMs: number): boolean {
    return mapping.expiresAtMs !== 0 && mapping.expiresAtMs <= nowMs;
  }

  /**
   * Takes every due mapping out of the table and the backend now and issues its store delete.
   * Skips keys with a change queued, except `ownKey` (the caller holds it). Fast when nothing is due.
   */
  private expireDue(nowMs: number, ownKey?: string): { removed: PortMapping[]; stored: Promise<unknown> } {
    if (this.nextExpiry > nowMs) return { removed: [], stored: Promise.resolve() };
    const removed: PortMapping[] = [];
    for (const [key, mapping] of this.mappings) {
      if (!this.isDue(mapping, nowMs)) continue;
      if (key !== ownKey && this.keyBusy.has(key)) continue;
      removed.push(mapping);
      this.backend.remove(mapping);
      this.erase(key, mapping, false);
    }
    this.recomputeNextExpiry();
    this.counts.expired += removed.length;
    if (removed.length > 0) this.emit('expire', removed);
    const stored = Promise.all(removed.map((mapping) => this.store.delete(mapping).catch(() => {
      this.counts.storeFailures++;
    })));
    return { removed, stored };
  }

  /** Puts a mapping in the table (a replacement keeps its index) and keeps counts, indexes and next expiry. */
  private insert(key: string, mapping: PortMapping): void {
    const previous = this.mappings.get(key);
    if (previous) {
      this.unindexEndpoint(key, previous);
    } else {
      this.perClient.set(mapping.internalClient, (this.perClient.get(mapping.internalClient) ?? 0) + 1);
      this.portUse[protocolIndex(mapping.protocol) + mapping.externalPort]!++;
    }
    this.indexEndpoint(key, mapping);
    this.mappings.set(key, mapping);
    const index = previous && this.listCache ? this.listCache.indexOf(previous) : -1;
    if (this.listCache && index >= 0) this.listCache[index] = mapping;
    else this.listCache = undefined;
    if (previous && previous.expiresAtMs !== 0 && previous.expiresAtMs <= this.nextExpiry) this.recomputeNextExpiry();
    else if (mapping.expiresAtMs !== 0 && mapping.expiresAtMs < this.nextExpiry) this.nextExpiry = mapping.expiresAtMs;
  }

  private erase(key: string, mapping: PortMapping, recompute = true): void {
    this.mappings.delete(key);
    this.unapplied.delete(key);
    this.unindexEndpoint(key, mapping);
    this.portUse[protocolIndex(mapping.protocol) + mapping.externalPort]!--;
    const count = (this.perClient.get(mapping.internalClient) ?? 1) - 1;
    if (count <= 0) this.perClient.delete(mapping.internalClient);
    else this.perClient.set(mapping.internalClient, count);
    this.listCache = undefined;
    if (recompute && mapping.expiresAtMs !== 0 && mapping.expiresAtMs <= this.nextExpiry) this.recomputeNextExpiry();
  }

  private indexEndpoint(key: string, mapping: PortMapping): void {
    const e = endpointKey(mapping.protocol, mapping.internalClient, mapping.internalPort);
    let keys = this.byEndpoint.get(e);
    if (!keys) this.byEndpoint.set(e, keys = new Set());
    keys.add(key);
  }

  private unindexEndpoint(key: string, mapping: PortMapping): void {
    const e = endpointKey(mapping.protocol, mapping.internalClient, mapping.internalPort);
    const keys = this.byEndpoint.get(e);
    keys?.delete(key);
    if (keys?.size === 0) this.byEndpoint.delete(e);
  }

  private recomputeNextExpiry(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const mapping of this.mappings.values()) {
      if (mapping.expiresAtMs !== 0 && mapping.expiresAtMs < next) next = mapping.expiresAtMs;
    }
    this.nextExpiry = next;
  }

  private emit(kind: MappingChange['kind'], mappings: readonly PortMapping[]): void {
    for (const listener of this.listeners) {
      try {
        listener({ kind, mappings });
      } catch {
        this.counts.listenerErrors++;
      }
    }
  }
}

/** The mapping a request makes at `nowMs`. */
function toMapping(request: MappingRequest, nowMs: number): PortMapping {
  return {
    remoteHost: request.remoteHost,
    externalPort: request.externalPort,
    protocol: request.protocol,
    internalPort: request.internalPort,
    internalClient: request.internalClient,
    enabled: request.enabled,
    description: request.description,
    leaseSeconds: request.leaseSeconds,
    expiresAtMs: request.leaseSeconds === 0 ? 0 : nowMs + request.leaseSeconds * 1000,
    origin: request.origin,
    requester: request.requester,
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    ...(request.filters !== undefined && request.filters.length > 0 ? { filters: request.filters.map((f) => ({ ...f })) } : {}),
  };
}

/** Whether two FILTER sets are the same list (absent and empty alike). */
function sameFilters(a: readonly MappingFilter[] = [], b: readonly MappingFilter[] = []): boolean {
  return a.length === b.length && a.every((f, i) => f.remoteAddress === b[i]!.remoteAddress
    && f.prefixLength === b[i]!.prefixLength && f.remotePort === b[i]!.remotePort);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
