/**
 * An in-memory PortMappingBackend: the forwarding rules in a Map, a settable external
 * address (listeners told on change), counters and link state. For tests, and for running
 * the IGD without the data plane. Ports can be reserved to stand for other mechanisms
 * (NAT-PMP/PCP, the gateway's own services): apply() then answers 'port-in-use'.
 * Must not: do I/O or keep timers.
 */
import type { MappingKey, MappingProtocol, PortMapping, PortMappingBackend, WanCounters } from '../types.js';

export interface MemoryBackendOptions {
  /** Initial external address; '' = none. Default '203.0.113.1' (TEST-NET-3). */
  readonly externalAddress?: string;
  /** Initial link state. Default up. */
  readonly linkUp?: boolean;
}

function keyOf(key: MappingKey): string {
  return `${key.protocol}/${key.externalPort}/${key.remoteHost}`;
}

export class MemoryPortMappingBackend implements PortMappingBackend {
  private readonly rules = new Map<string, PortMapping>();
  private readonly reserved = new Set<string>();
  private readonly listeners = new Set<(address: string) => void>();
  private address: string;
  private up: boolean;
  private wan: WanCounters = { bytesSent: 0, bytesReceived: 0, packetsSent: 0, packetsReceived: 0 };
  /** Every apply/remove call, in order: what a test checks the IGD did to the packet path. */
  readonly calls: Array<{ readonly op: 'apply'; readonly mapping: PortMapping } | { readonly op: 'remove'; readonly key: MappingKey }> = [];

  constructor(options: MemoryBackendOptions = {}) {
    this.address = options.externalAddress ?? '203.0.113.1';
    this.up = options.linkUp ?? true;
  }

  apply(mapping: PortMapping): { ok: true } | { ok: false; reason: 'port-in-use' | 'invalid' } {
    if (this.reserved.has(`${mapping.protocol}/${mapping.externalPort}`)) return { ok: false, reason: 'port-in-use' };
    if (!Number.isInteger(mapping.externalPort) || mapping.externalPort < 1 || mapping.externalPort > 65535) {
      return { ok: false, reason: 'invalid' };
    }
    this.calls.push({ op: 'apply', mapping });
    this.rules.set(keyOf(mapping), mapping);
    return { ok: true };
  }

  remove(key: MappingKey): void {
    this.calls.push({ op: 'remove', key: { remoteHost: key.remoteHost, externalPort: key.externalPort, protocol: key.protocol } });
    this.rules.delete(keyOf(key));
  }

  externalAddress(): string {
    return this.address;
  }

  counters(): WanCounters {
    return this.wan;
  }

  linkUp(): boolean {
    return this.up;
  }

  onExternalAddressChange(listener: (address: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The forwarding rule installed for a key, if any. */
  rule(key: MappingKey): PortMapping | undefined {
    return this.rules.get(keyOf(key));
  }

  /** Every installed rule. */
  allRules(): PortMapping[] {
    return [...this.rules.values()];
  }

  /** Changes the external address and tells the listeners (when it differs). */
  setExternalAddress(address: string): void {
    if (address === this.address) return;
    this.address = address;
    for (const listener of [...this.listeners]) listener(address);
  }

  setLinkUp(up: boolean): void {
    this.up = up;
  }

  setCounters(counters: WanCounters): void {
    this.wan = counters;
  }

  /** Makes apply() refuse a protocol/port with 'port-in-use' (another mechanism holds it). */
  reservePort(protocol: MappingProtocol, externalPort: number): void {
    this.reserved.add(`${protocol}/${externalPort}`);
  }
}
