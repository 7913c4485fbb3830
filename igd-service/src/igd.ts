/**
 * The UPnP front end of the mapping table and the IGD's WAN view: AddPortMapping,
 * DeletePortMapping and the two lookups as calls on the protocol-neutral MappingService
 * (mapping/mapping-service.ts, which owns the queue, the rules, leases, the store and the
 * backend), in GetGenericPortMappingEntry's order, plus the WAN state and the evented
 * variables GENA publishes.
 *
 * Mappings made through NAT-PMP or PCP are listed like any other; their keys are refused to
 * AddPortMapping as `conflict-with-other-mechanism` (718 in IGD:1, 729 in IGD:2), like a port
 * the packet path holds for another mechanism. A change of the external address keeps every
 * mapping (they name no external address) and is evented with the connection status. With
 * `version: 2` the events carry WANIPConnection:2's SystemUpdateID, which counts creates,
 * replacements, deletes and expiries.
 * Must not: change the table other than through the MappingService, run timers (the owner
 * calls expire()), or throw on a domain outcome (those are `{ ok: false, reason }`).
 */
import type { PortMappingRequest } from './mapping-rules.js';
import type { IgdServiceKey, IgdVersion } from './declaration.js';
import { IGD_SERVICE_KEYS } from './declaration.js';
import { igdDefaultConnectionService } from './description.js';
import type { IgdStateSnapshot } from './evented-state.js';
import { eventedValues } from './evented-state.js';
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { MappingService, MappingStartReport, MappingServiceStats } from './mapping/mapping-service.js';
import { mappingKey, remainingLeaseSeconds } from './mapping/mapping-service.js';
import type { MappingKey, PortMapping, PortMappingBackend, WanCounters } from './types.js';

/** The WAN link as GetCommonLinkProperties reports it. */
export interface WanLinkProperties {
  readonly accessType: 'DSL' | 'POTS' | 'Cable' | 'Ethernet';
  readonly upstreamBitsPerSecond: number;
  readonly downstreamBitsPerSecond: number;
}

export interface IgdOptions {
  /** The root device uuid: Layer3Forwarding names the WANConnectionDevice's UDN derived from it. */
  readonly rootUuid: string;
  /** Default Ethernet, 0 / 0 bit/s (unknown). */
  readonly link?: Partial<WanLinkProperties>;
  /** The IGD version served: which evented variables there are. Default 1. */
  readonly version?: IgdVersion;
}

export interface IgdComponents {
  /** The mapping table (with its access policy, store and backend), shared with the other protocols. */
  readonly mappings: MappingService;
}

/** A change of evented variables of one service. */
export interface IgdStateChange {
  readonly service: IgdServiceKey;
  readonly variables: ReadonlyArray<readonly [string, string]>;
}

export type IgdStartReport = MappingStartReport;

export type AddPortMappingResult =
  | { readonly ok: true; readonly mapping: PortMapping; readonly kind: 'create' | 'replace' | 'renew' }
  | ActionFailure;

export type DeletePortMappingResult = { readonly ok: true; readonly mapping: PortMapping } | ActionFailure;

export type PortMappingLookup =
  | { readonly ok: true; readonly mapping: PortMapping; readonly remainingLeaseSeconds: number }
  | ActionFailure<'no-such-entry' | 'array-index-invalid' | 'external-port-wildcard-not-permitted' | 'action-failed'>;

export type IgdStats = MappingServiceStats;

/** The Map key of a mapping: protocol, external port, remote host. */
export const igdMappingKey = mappingKey;

export class Igd {
  readonly mappings: MappingService;
  private readonly backend: PortMappingBackend;
  private readonly now: () => number;
  private readonly link: WanLinkProperties;
  private readonly defaultService: string;
  private readonly version: IgdVersion;

  private readonly listeners = new Set<(change: IgdStateChange) => void>();
  private readonly lastEvented = new Map<IgdServiceKey, Map<string, string>>();
  private connectedSinceMs = 0;
  private lastStatus: 'Connected' | 'Disconnected' = 'Disconnected';
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private unsubscribe: Array<() => void> = [];
  private listenerErrors = 0;

  constructor(options: IgdOptions, components: IgdComponents) {
    this.mappings = components.mappings;
    this.backend = components.mappings.backend;
    this.now = components.mappings.clock;
    this.link = {
      accessType: options.link?.accessType ?? 'Ethernet',
      upstreamBitsPerSecond: options.link?.upstreamBitsPerSecond ?? 0,
      downstreamBitsPerSecond: options.link?.downstreamBitsPerSecond ?? 0,
    };
    this.defaultService = igdDefaultConnectionService(options.rootUuid);
    this.version = options.version ?? 1;
  }

  /**
   * Starts the mapping table (loads the store, replays it; a table already started is not
   * loaded again) and takes the evented variables' first values. Rejects when the store
   * cannot be read (StoreCorruptError / StoreIoError): the daemon must not run on a guess.
   */
  async start(): Promise<IgdStartReport> {
    if (this.state !== 'new') throw new Error(`Igd.start() called when ${this.state}`);
    this.state = 'starting';
    const report = await this.mappings.start();
    this.lastStatus = this.connectionStatus();
    this.connectedSinceMs = this.now();
    for (const service of IGD_SERVICE_KEYS) {
      this.lastEvented.set(service, new Map(eventedValues(service, this.snapshot(), this.version)));
    }
    this.unsubscribe = [
      this.backend.onExternalAddressChange(() => this.refreshState()),
      this.mappings.onChange(() => this.refreshState()),
    ];
    this.state = 'started';
    return report;
  }

  /** Stops listening to the backend and the table. The table and store are the owner's to close. */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.state = 'closed';
  }

  // ---- reads -----------------------------------------------------------------------------

  mappingCount(): number {
    return this.mappings.count();
  }

  /** The table in GetGenericPortMappingEntry order. The array is shared: do not modify it. */
  listMappings(): readonly PortMapping[] {
    return this.mappings.list();
  }

  /** The table once the leases that ran out are gone (GetListOfPortMappings). Shared array: do not modify. */
  async currentMappings(): Promise<{ readonly ok: true; readonly mappings: readonly PortMapping[] } | ActionFailure<'action-failed'>> {
    const ready = await this.readyForRead();
    return ready.ok ? { ok: true, mappings: this.listMappings() } : ready;
  }

  /** The lease a getter reports for a mapping: 0 when static, else the seconds left, at least 1. */
  remainingLeaseSeconds(mapping: PortMapping): number {
    return remainingLeaseSeconds(mapping, this.now());
  }

  /** GetGenericPortMappingEntry: the mapping at `index`, or array-index-invalid (713). */
  async getGenericPortMapping(index: number): Promise<PortMappingLookup> {
    const ready = await this.readyForRead();
    if (!ready.ok) return ready;
    const list = this.mappings.list();
    if (!Number.isInteger(index) || index < 0 || index >= list.length) {
      return actionFailure('array-index-invalid', `index ${index} of ${list.length} entries`);
    }
    return this.lookup(list[index]!);
  }

  /** GetSpecificPortMappingEntry: the mapping of a key, or no-such-entry (714). */
  async getSpecificPortMapping(key: MappingKey): Promise<PortMappingLookup> {
    if (key.externalPort === 0) return actionFailure('external-port-wildcard-not-permitted', 'external port 0');
    const ready = await this.readyForRead();
    if (!ready.ok) return ready;
    // A due mapping still listed has a change in flight that will settle it: it is gone already.
    const mapping = this.mappings.get(key);
    if (!mapping) return actionFailure('no-such-entry', `no mapping ${mappingKey(key)}`);
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
    return this.mappings.nextExpiryMs();
  }

  stats(): IgdStats {
    const s = this.mappings.stats();
    return { ...s, listenerErrors: s.listenerErrors + this.listenerErrors };
  }

  // ---- changes ---------------------------------------------------------------------------

  /**
   * AddPortMapping for `requester` (the HTTP peer's address). A key held through another
   * protocol is a conflict (718) whose `heldBy` names that protocol.
   */
  addPortMapping(request: PortMappingRequest, requester: string): Promise<AddPortMappingResult> {
    return this.mappings.put({ ...request, origin: 'upnp', requester });
  }

  /** DeletePortMapping for `requester`: any mapping of the table, whichever protocol made it. */
  deletePortMapping(key: MappingKey, requester: string): Promise<DeletePortMappingResult> {
    return this.mappings.delete(key, requester);
  }

  /**
   * Removes every mapping whose lease ended at or before `nowMs` (default: the clock); resolves
   * with what it removed once the store deletes settled.
   */
  expire(nowMs: number = this.now()): Promise<PortMapping[]> {
    return this.mappings.expire(nowMs);
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
          this.listenerErrors++;
        }
      }
    }
  }

  // ---- internals -------------------------------------------------------------------------

  private async readyForRead(): Promise<{ ok: true } | ActionFailure<'action-failed'>> {
    if (this.state !== 'started') return actionFailure('action-failed', `the IGD is ${this.state}`);
    // Takes due mappings out at once; their store deletes are not waited for.
    void this.mappings.expire();
    return { ok: true };
  }

  private lookup(mapping: PortMapping): PortMappingLookup {
    return { ok: true, mapping, remainingLeaseSeconds: this.remainingLeaseSeconds(mapping) };
  }

  private snapshot(): IgdStateSnapshot {
    const stats = this.mappings.stats();
    return {
      connectionStatus: this.connectionStatus(),
      externalAddress: this.backend.externalAddress(),
      mappingCount: this.mappings.count(),
      linkUp: this.backend.linkUp(),
      defaultConnectionService: this.defaultService,
      mappingChanges: stats.adds + stats.deletes + stats.expired,
    };
  }
}
