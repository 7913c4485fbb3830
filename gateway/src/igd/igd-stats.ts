/**
 * Counters of the IGD control plane that its parts do not keep themselves: SOAP
 * actions by outcome and fault code, mappings made per protocol, and the mapping
 * store's commit latency. Each keeps plain numbers as events happen (none of them on
 * the packet path) and gives a typed snapshot; the admin API and the metrics read
 * only the snapshots.
 */
import {
  MAPPING_ORIGINS, findActionDeclaration,
  type IgdActionRecord, type IgdServiceKey, type IgdVersion, type MappingChange, type MappingKey, type MappingOrigin,
  type MappingProtocol, type MappingStore, type PortMapping,
} from '@openigd/igd-service';

/** One (service, action, fault code) with its count; `code` 0 is a success, `action` 'other' an unknown name. */
export interface SoapActionCount {
  readonly service: IgdServiceKey;
  readonly action: string;
  readonly code: number;
  readonly count: number;
}

/**
 * SOAP actions answered. The action is a label only when the service declares it:
 * any other name a client sends counts as 'other', so the label set stays bounded.
 */
export class SoapStats {
  private readonly counts = new Map<string, { service: IgdServiceKey; action: string; code: number; count: number }>();

  constructor(private readonly version: IgdVersion) {}

  record(r: IgdActionRecord): void {
    const action = r.action && findActionDeclaration(r.service, r.action, this.version) ? r.action : 'other';
    // A malformed request has no fault code: it counts as 400, what it was answered with.
    const code = r.ok ? 0 : r.code ?? 400;
    const key = `${r.service} ${action} ${code}`;
    const c = this.counts.get(key);
    if (c) c.count++;
    else this.counts.set(key, { service: r.service, action, code, count: 1 });
  }

  snapshot(): readonly SoapActionCount[] {
    return Array.from(this.counts.values(), (c) => ({ ...c }));
  }
}

export type PerOrigin = Readonly<Record<MappingOrigin, number>>;

export interface MappingOriginStats {
  /** Mappings created (not renewed or replaced) through each protocol. */
  readonly created: PerOrigin;
  /** Mappings held now, by protocol and transport. */
  readonly held: ReadonlyArray<{ readonly origin: MappingOrigin; readonly protocol: MappingProtocol; readonly count: number }>;
}

const zeroPerOrigin = (): Record<MappingOrigin, number> => Object.fromEntries(MAPPING_ORIGINS.map((o) => [o, 0])) as Record<MappingOrigin, number>;

/** Counts mappings per protocol from the mapping service's change events. */
export class MappingOriginCounter {
  private readonly created = zeroPerOrigin();

  /** The mapping service's onChange listener. */
  readonly onChange = (change: MappingChange): void => {
    if (change.kind !== 'create') return;
    for (const m of change.mappings) this.created[m.origin]++;
  };

  snapshot(current: readonly PortMapping[]): MappingOriginStats {
    const held = new Map<string, { origin: MappingOrigin; protocol: MappingProtocol; count: number }>();
    for (const m of current) {
      const key = `${m.origin} ${m.protocol}`;
      const h = held.get(key);
      if (h) h.count++;
      else held.set(key, { origin: m.origin, protocol: m.protocol, count: 1 });
    }
    return { created: { ...this.created }, held: [...held.values()] };
  }
}

/** Upper bounds (seconds) of the commit latency buckets: a group commit is one O_DSYNC write. */
export const COMMIT_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A latency histogram: `counts[i]` observations ≤ `buckets[i]` (not cumulative), the rest in `counts[buckets.length]`. */
export interface LatencyHistogram {
  readonly buckets: readonly number[];
  readonly counts: readonly number[];
  readonly sumSeconds: number;
  readonly count: number;
}

/** The mapping store with each durable change timed (put and delete resolve after the commit). */
export class TimedMappingStore implements MappingStore {
  private readonly counts = new Array<number>(COMMIT_BUCKETS_SECONDS.length + 1).fill(0);
  private sumSeconds = 0;
  private count = 0;

  constructor(private readonly inner: MappingStore) {}

  load(): Promise<PortMapping[]> { return this.inner.load(); }
  put(mapping: PortMapping): Promise<void> { return this.timed(this.inner.put(mapping)); }
  delete(key: MappingKey): Promise<void> { return this.timed(this.inner.delete(key)); }
  close(): Promise<void> { return this.inner.close(); }

  commitLatency(): LatencyHistogram {
    return { buckets: COMMIT_BUCKETS_SECONDS, counts: [...this.counts], sumSeconds: this.sumSeconds, count: this.count };
  }

  private async timed(commit: Promise<void>): Promise<void> {
    const t0 = performance.now();
    await commit;
    this.observe((performance.now() - t0) / 1000);
  }

  private observe(seconds: number): void {
    let i = COMMIT_BUCKETS_SECONDS.findIndex((b) => seconds <= b);
    if (i < 0) i = COMMIT_BUCKETS_SECONDS.length;
    this.counts[i]!++;
    this.sumSeconds += seconds;
    this.count++;
  }
}
