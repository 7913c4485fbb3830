/**
 * The IGD's port-mapping table and WAN view: the authoritative list of mappings (in memory,
 * in the order GetGenericPortMappingEntry indexes them), kept durable through a MappingStore
 * and applied to the packet path through a PortMappingBackend (U5–U14).
 *
 *   add     716 wildcard port → expire what is due → overwrite rule (mapping-rules.ts) →
 *           access policy (limits count adds still in flight) → backend.apply → store.put
 *           (durable) → table → events.
 *           A store failure undoes the backend change and answers action-failed (501): a
 *           success is never answered for a change that is not on disk. An identical re-add
 *           (same everything, lease 0) touches nothing; with a lease it only writes the new
 *           expiry (no backend call, no event): renewals are cheap.
 *   delete  716 → expire due → 714 when absent → policy → store.delete → backend.remove → events.
 *   expire  mappings whose lease ran out leave the table and the backend at once; their store
 *           deletes are issued then and there (so they reach the store before any later put of
 *           the same key) and a failed one is harmless: start() drops expired mappings.
 *   start   replays the stored mappings into the backend, dropping expired ones; a mapping the
 *           backend refuses stays listed (it is the client's durable intent) and is reported.
 *
 * Changes of one key are serialised (a check and its write never interleave with another
 * change of that key); changes of different keys overlap, so their store writes can share
 * one sync (the store's group commit). Expiry leaves a key with a change in flight to that
 * change. A change of the external address keeps every mapping (they name no external
 * address) and is evented with the connection status. With `version: 2` the events carry
 * WANIPConnection:2's SystemUpdateID, which counts creates, replacements, deletes and expiries.
 * A port the packet path holds for another mechanism is `conflict-with-other-mechanism`. Time comes from the injected clock
 * (wall clock ms, because lease expiry is stored as an absolute time).
 * Must not: answer success before the store resolved, run timers (the owner calls expire()),
 * or throw on a domain outcome (those are `{ ok: false, reason }`).
 */
import type { AccessPolicy, PortMappingRequest } from './mapping-rules.js';
import { checkAccessPolicy, checkDeletePolicy, decideAddPortMapping } from './mapping-rules.js';
import type { IgdServiceKey, IgdVersion } from './declaration.js';
import { IGD_SERVICE_KEYS } from './declaration.js';
import { igdDefaultConnectionService } from './description.js';
import type { IgdStateSnapshot } from './evented-state.js';
import { eventedValues } from './evented-state.js';
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { MappingKey, MappingStore, PortMapping, PortMappingBackend, WanCounters } from './types.js';

/** The WAN link as GetCommonLinkProperties reports it. */
export interface WanLinkProperties {
  readonly accessType: 'DSL' | 'POTS' | 'Cable' | 'Ethernet';
  readonly upstreamBitsPerSecond: number;
  readonly downstreamBitsPerSecond: number;
}

export interface IgdOptions {
  /** The root device uuid: Layer3Forwarding names the WANConnectionDevice's UDN derived from it. */
  readonly rootUuid: string;
  readonly policy?: AccessPolicy;
  /** Default Ethernet, 0 / 0 bit/s (unknown). */
  readonly link?: Partial<WanLinkProperties>;
  /** The IGD version served: which evented variables there are. Default 1. */
  readonly version?: IgdVersion;
}

export interface IgdComponents {
  readonly store: MappingStore;
  readonly backend: PortMappingBackend;
  /** Wall clock, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

/** A change of evented variables of one service. */
export interface IgdStateChange {
  readonly service: IgdServiceKey;
  readonly variables: ReadonlyArray<readonly [string, string]>;
}

export interface IgdStartReport {
  readonly replayed: number;
  /** Stored mappings whose lease had run out: dropped. */
  readonly expired: number;
  /** Stored mappings the backend refused: kept in the table, not forwarding. */
  readonly refused: ReadonlyArray<{ readonly mapping: PortMapping; readonly reason: 'port-in-use' | 'invalid' }>;
}

export type AddPortMappingResult =
  | { readonly ok: true; readonly mapping: PortMapping; readonly kind: 'create' | 'replace' | 'renew' }
  | ActionFailure;

export type DeletePortMappingResult = { readonly ok: true; readonly mapping: PortMapping } | ActionFailure;

export type PortMappingLookup =
  | { readonly ok: true; readonly mapping: PortMapping; readonly remainingLeaseSeconds: number }
  | ActionFailure<'no-such-entry' | 'array-index-invalid' | 'external-port-wildcard-not-permitted' | 'action-failed'>;

export interface IgdStats {
  readonly mappings: number;
  readonly adds: number;
  readonly renewals: number;
  readonly deletes: number;
  readonly expired: number;
  readonly storeFailures: number;
  readonly listenerErrors: number;
}

/** PortMappingNumberOfEntries and the GetGeneric index are ui2: the table cannot list more. */
const MAX_TABLE_ENTRIES = 0xffff;

/** The Map key of a mapping: protocol, external port, remote host. */
export function igdMappingKey(key: MappingKey): string {
  return `${key.protocol}/${key.externalPort}/${key.remoteHost}`;
}

export class Igd {
  private readonly store: MappingStore;
  private readonly backend: PortMappingBackend;
  private readonly now: () => number;
  private readonly policy: AccessPolicy;
  private readonly link: WanLinkProperties;
  private readonly defaultService: string;
  private readonly version: IgdVersion;

  private readonly mappings = new Map<string, PortMapping>();
  private readonly perClient = new Map<string, number>();
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
  private readonly listeners = new Set<(change: IgdStateChange) => void>();
  private readonly lastEvented = new Map<IgdServiceKey, Map<string, string>>();
  private connectedSinceMs = 0;
  private lastStatus: 'Connected' | 'Disconnected' = 'Disconnected';
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private unsubscribeBackend: (() => void) | undefined;
  private readonly counts = { adds: 0, renewals: 0, deletes: 0, expired: 0, storeFailures: 0, listenerErrors: 0 };

  constructor(options: IgdOptions, components: IgdComponents) {
    this.store = components.store;
    this.backend = components.backend;
    this.now = components.now ?? Date.now;
    this.policy = options.policy ?? {};
    this.link = {
      accessType: options.link?.accessType ?? 'Ethernet',
      upstreamBitsPerSecond: options.link?.upstreamBitsPerSecond ?? 0,
      downstreamBitsPerSecond: options.link?.downstreamBitsPerSecond ?? 0,
    };
    this.defaultService = igdDefaultConnectionService(options.rootUuid);
    this.version = options.version ?? 1;
  }

  /**
   * Loads the store and replays it into the backend. Rejects when the store cannot be read
   * (StoreCorruptError / StoreIoError from the store): the daemon must not run on a guess.
   */
  async start(): Promise<IgdStartReport> {
    if (this.state !== 'new') throw new Error(`Igd.start() called when ${this.state}`);
    this.state = 'starting';
    const stored = await this.store.load();
    const nowMs = this.now();
    let expired = 0;
    const refused: Array<{ mapping: PortMapping; reason: 'port-in-use' | 'invalid' }> = [];
    for (const mapping of stored) {
      if (mapping.expiresAtMs !== 0 && mapping.expiresAtMs <= nowMs) {
        expired++;
        await this.store.delete(mapping).catch(() => {
          this.counts.storeFailures++;
        });
        continue;
      }
      const key = igdMappingKey(mapping);
      const applied = this.backend.apply(mapping);
      if (!applied.ok) {
        refused.push({ mapping, reason: applied.reason });
        this.unapplied.add(key);
      }
      this.insert(key, mapping);
    }
    this.lastStatus = this.connectionStatus();
    this.connectedSinceMs = nowMs;
    for (const service of IGD_SERVICE_KEYS) {
      this.lastEvented.set(service, new Map(eventedValues(service, this.snapshot(), this.version)));
    }
    this.unsubscribeBackend = this.backend.onExternalAddressChange(() => this.refreshState());
    this.state = 'started';
    return { replayed: stored.length - expired, expired, refused };
  }

  /** Stops listening to the backend. The store is the owner's to close. */
  close(): void {
    this.unsubscribeBackend?.();
    this.unsubscribeBackend = undefined;
    this.state = 'closed';
  }

  // ---- reads -----------------------------------------------------------------------------

  mappingCount(): number {
    return this.mappings.size;
  }

  /** The table in GetGenericPortMappingEntry order. The array is shared: do not modify it. */
  listMappings(): readonly PortMapping[] {
    this.listCache ??= [...this.mappings.values()];
    return this.listCache;
  }

  /** The table once the leases that ran out are gone (GetListOfPortMappings). Shared array: do not modify. */
  async currentMappings(): Promise<{ readonly ok: true; readonly mappings: readonly PortMapping[] } | ActionFailure<'action-failed'>> {
    const ready = await this.readyForRead();
    return ready.ok ? { ok: true, mappings: this.listMappings() } : ready;
  }

  /** The lease a getter reports for a mapping: 0 when static, else the seconds left, at least 1. */
  remainingLeaseSeconds(mapping: PortMapping): number {
    return mapping.expiresAtMs === 0 ? 0 : Math.max(1, Math.ceil((mapping.expiresAtMs - this.now()) / 1000));
  }

  /** GetGenericPortMappingEntry: the mapping at `index`, or array-index-invalid (713). */
  async getGenericPortMapping(index: number): Promise<PortMappingLookup> {
    const ready = await this.readyForRead();
    if (!ready.ok) return ready;
    const list = this.listMappings();
    if (!Number.isInteger(index) || index < 0 || index >= list.length) {
      return actionFailure('array-index-invalid', `index ${index} of ${list.length} entries`);
    }
    return this.lookup(list[index]);
  }

  /** GetSpecificPortMappingEntry: the mapping of a key, or no-such-entry (714). */
  async getSpecificPortMapping(key: MappingKey): Promise<PortMappingLookup> {
    if (key.externalPort === 0) return actionFailure('external-port-wildcard-not-permitted', 'external port 0');
    const ready = await this.readyForRead();
    if (!ready.ok) return ready;
    const mapping = this.mappings.get(igdMappingKey(key));
    // A due mapping still listed has a change in flight that will settle it: it is gone already.
    if (!mapping || (mapping.expiresAtMs !== 0 && mapping.expiresAtMs <= this.now())) {
      return actionFailure('no-such-entry', `no mapping ${igdMappingKey(key)}`);
    }
    return this.lookup(mapping);
  }

  externalAddress(): string {
    return this.backend.externalAddress();
  }

  /** Connected while the WAN link is up and has an address. */
  connectionStatus(): 'Connected' | 'Disconnected' {
    return this.backend.linkUp() && this.backend.externalAddress() !== '' ? 'Connected' : 'Disconnected';
  }

  /** Seconds since the connection last became Connected (as observed), 0 while Disconnected. */
  uptimeSeconds(): number {
    if (this.connectionStatus() !== 'Connected') return 0;
    if (this.lastStatus !== 'Connected') this.refreshState();
    return Math.max(0, Math.floor((this.now() - this.connectedSinceMs) / 1000));
  }

  linkProperties(): WanLinkProperties {
    return this.link;
  }

  linkUp(): boolean {
    return this.backend.linkUp();
  }

  counters(): WanCounters {
    return this.backend.counters();
  }

  /** Layer3Forwarding's DefaultConnectionService value. */
  defaultConnectionService(): string {
    return this.defaultService;
  }

  /** Every evented variable of a service with its current value: the initial GENA event. */
  eventedState(service: IgdServiceKey): Array<readonly [string, string]> {
    return eventedValues(service, this.snapshot(), this.version);
  }

  /** Listens to changes of evented variables; returns the unsubscribe function. */
  onStateChange(listener: (change: IgdStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** When the next lease runs out (ms, wall clock), or undefined when none will. */
  nextExpiryMs(): number | undefined {
    return Number.isFinite(this.nextExpiry) ? this.nextExpiry : undefined;
  }

  stats(): IgdStats {
    return { mappings: this.mappings.size, ...this.counts };
  }

  // ---- changes ---------------------------------------------------------------------------

  /** AddPortMapping for `requester` (the HTTP peer's address). */
  addPortMapping(request: PortMappingRequest, requester: string): Promise<AddPortMappingResult> {
    return this.changeMapping(request, async (key, nowMs): Promise<AddPortMappingResult> => {
      const existing = this.mappings.get(key);
      const decision = decideAddPortMapping(existing, request);
      if (!decision.ok) return decision;
      const isNew = decision.kind === 'create';
      const counts = {
        total: this.mappings.size + this.pendingCreates,
        forInternalClient: (this.perClient.get(request.internalClient) ?? 0) + (this.pendingPerClient.get(request.internalClient) ?? 0),
      };
      const policy = checkAccessPolicy(this.policy, request, requester, counts, isNew);
      if (!policy.ok) return policy;
      if (isNew && counts.total >= MAX_TABLE_ENTRIES) {
        return actionFailure('no-port-maps-available', `the table holds ${MAX_TABLE_ENTRIES} mappings, the most a ui2 index can list`);
      }
      const mapping: PortMapping = {
        remoteHost: request.remoteHost,
        externalPort: request.externalPort,
        protocol: request.protocol,
        internalPort: request.internalPort,
        internalClient: request.internalClient,
        enabled: request.enabled,
        description: request.description,
        leaseSeconds: request.leaseSeconds,
        expiresAtMs: request.leaseSeconds === 0 ? 0 : nowMs + request.leaseSeconds * 1000,
      };

      if (decision.kind === 'replace' && decision.identical && !this.unapplied.has(key)) {
        if (mapping.leaseSeconds === 0) {
          this.counts.renewals++;
          return { ok: true, mapping: decision.previous, kind: 'renew' };
        }
        try {
          await this.store.put(mapping);
        } catch (e) {
          this.counts.storeFailures++;
          return actionFailure('action-failed', `store: ${errorText(e)}`);
        }
        this.insert(key, mapping);
        this.counts.renewals++;
        return { ok: true, mapping, kind: 'renew' };
      }

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
      this.refreshState();
      return { ok: true, mapping, kind: decision.kind };
    });
  }

  /** DeletePortMapping for `requester`. */
  deletePortMapping(key: MappingKey, requester: string): Promise<DeletePortMappingResult> {
    return this.changeMapping(key, async (k): Promise<DeletePortMappingResult> => {
      const mapping = this.mappings.get(k);
      if (!mapping) return actionFailure('no-such-entry', `no mapping ${k}`);
      const allowed = checkDeletePolicy(this.policy, mapping, requester);
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
      this.refreshState();
      return { ok: true, mapping };
    });
  }

  /**
   * Removes every mapping whose lease ended at or before `nowMs` (default: the clock), from the
   * table and the backend at once, and from the store; resolves with what it removed once the
   * store deletes settled. A key with a change in flight is left to that change.
   */
  async expire(nowMs: number = this.now()): Promise<PortMapping[]> {
    const { removed, stored } = this.expireDue(nowMs);
    await stored;
    return removed;
  }

  /**
   * Recomputes the evented variables and tells listeners what changed. Called after every
   * change and on external-address changes; the owner may call it to pick up link changes.
   */
  refreshState(): void {
    const status = this.connectionStatus();
    if (status === 'Connected' && this.lastStatus !== 'Connected') this.connectedSinceMs = this.now();
    this.lastStatus = status;
    if (this.state !== 'started') return;
    const snapshot = this.snapshot();
    for (const service of IGD_SERVICE_KEYS) {
      const last = this.lastEvented.get(service) ?? new Map<string, string>();
      const changed: Array<readonly [string, string]> = [];
      for (const [name, value] of eventedValues(service, snapshot, this.version)) {
        if (last.get(name) !== value) {
          changed.push([name, value]);
          last.set(name, value);
        }
      }
      this.lastEvented.set(service, last);
      if (changed.length === 0) continue;
      for (const listener of [...this.listeners]) {
        try {
          listener({ service, variables: changed });
        } catch {
          this.counts.listenerErrors++;
        }
      }
    }
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * A change of one mapping (add or delete): refused for the wildcard external port 0;
   * otherwise `op` runs after every earlier change of the same key, once the IGD is
   * started and an expired lease on that key is gone.
   */
  private changeMapping<T>(key: MappingKey, op: (k: string, nowMs: number) => Promise<T>): Promise<T | ActionFailure> {
    if (key.externalPort === 0) {
      return Promise.resolve(actionFailure('external-port-wildcard-not-permitted', 'external port 0 (wildcard) is not supported'));
    }
    const k = igdMappingKey(key);
    return this.withKey(k, async () => {
      if (this.state !== 'started') return actionFailure('action-failed', `the IGD is ${this.state}`);
      const nowMs = this.now();
      this.expireDue(nowMs, k);
      return op(k, nowMs);
    });
  }

  /** Runs `op` after every earlier change of the same key. */
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

  private async readyForRead(): Promise<{ ok: true } | ActionFailure<'action-failed'>> {
    if (this.state !== 'started') return actionFailure('action-failed', `the IGD is ${this.state}`);
    this.expireDue(this.now());
    return { ok: true };
  }

  private lookup(mapping: PortMapping): PortMappingLookup {
    return { ok: true, mapping, remainingLeaseSeconds: this.remainingLeaseSeconds(mapping) };
  }

  /**
   * Takes every due mapping out of the table and the backend now and issues its store delete.
   * Skips keys with a change queued, except `ownKey` (the caller holds it). Fast when nothing is due.
   */
  private expireDue(nowMs: number, ownKey?: string): { removed: PortMapping[]; stored: Promise<unknown> } {
    if (this.nextExpiry > nowMs) return { removed: [], stored: Promise.resolve() };
    const removed: PortMapping[] = [];
    for (const [key, mapping] of this.mappings) {
      if (mapping.expiresAtMs === 0 || mapping.expiresAtMs > nowMs) continue;
      if (key !== ownKey && this.keyBusy.has(key)) continue;
      removed.push(mapping);
      this.backend.remove(mapping);
      this.erase(key, mapping, false);
    }
    this.recomputeNextExpiry();
    this.counts.expired += removed.length;
    if (removed.length > 0) this.refreshState();
    const stored = Promise.all(removed.map((mapping) => this.store.delete(mapping).catch(() => {
      this.counts.storeFailures++;
    })));
    return { removed, stored };
  }

  /** Puts a mapping in the table (a replacement keeps its index) and keeps counts and next expiry. */
  private insert(key: string, mapping: PortMapping): void {
    const previous = this.mappings.get(key);
    if (!previous) this.perClient.set(mapping.internalClient, (this.perClient.get(mapping.internalClient) ?? 0) + 1);
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
    const count = (this.perClient.get(mapping.internalClient) ?? 1) - 1;
    if (count <= 0) this.perClient.delete(mapping.internalClient);
    else this.perClient.set(mapping.internalClient, count);
    this.listCache = undefined;
    if (recompute && mapping.expiresAtMs !== 0 && mapping.expiresAtMs <= this.nextExpiry) this.recomputeNextExpiry();
  }

  private recomputeNextExpiry(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const mapping of this.mappings.values()) {
      if (mapping.expiresAtMs !== 0 && mapping.expiresAtMs < next) next = mapping.expiresAtMs;
    }
    this.nextExpiry = next;
  }

  private snapshot(): IgdStateSnapshot {
    return {
      connectionStatus: this.connectionStatus(),
      externalAddress: this.backend.externalAddress(),
      mappingCount: this.mappings.size,
      linkUp: this.backend.linkUp(),
      defaultConnectionService: this.defaultService,
      mappingChanges: this.counts.adds + this.counts.deletes + this.counts.expired,
    };
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
