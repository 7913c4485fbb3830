/**
 * `npm run bench:table` — the NAT table against a plain `Map<string, object>` doing
 * the same work, in one run: lookups per second on established flows (a mix of
 * outbound and inbound), new flows per second, and heap bytes per flow at 1,000,000
 * live flows. Targets (issue 2): lookups ≥ 3× the Map, ≤ 100 bytes per flow.
 * Run with --expose-gc (the npm script does). It must stay under a minute on 2 cores
 * and measure nothing but the two contenders (no I/O, no network).
 */
import { NatTable, resolveNatConfig, VERDICT } from '@openigd/nat-table';

const FLOWS = 1_000_000;
const ENDPOINTS = 50_000;
const LOOKUPS = 4_000_000;
const EXT = 0xcb007102;

interface MapFlow { intAddr: number; intPort: number; remAddr: number; remPort: number; extPort: number; expiresMs: number }

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) g();
}

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/*
 * Flow i: internal endpoint e = i mod 50,000 (196 hosts, one port each), remote k = i / 50,000
 * (20 addresses and ports), so each internal endpoint talks to 20 remotes. Computed, not stored,
 * so the measured loops allocate nothing of their own for either contender.
 */
const intAddr = (i: number): number => 0xc0a80000 + ((i % ENDPOINTS) >> 8);
const intPort = (i: number): number => 1024 + (i % ENDPOINTS);
const remAddr = (i: number): number => 0xc6336400 + (Math.floor(i / ENDPOINTS) % 20);
const remPort = (i: number): number => 1000 + Math.floor(i / ENDPOINTS);

/** The same work on a Map: one entry per direction, keys built from the tuple. */
class MapNat {
  readonly out = new Map<string, MapFlow>();
  readonly in = new Map<string, MapFlow>();
  private readonly ports = new Map<string, number>();
  private next = 1024;
  outbound(proto: number, a: number, ap: number, r: number, rp: number, nowMs: number): MapFlow {
    const key = `${proto}:${a}:${ap}:${r}:${rp}`;
    let f = this.out.get(key);
    if (!f) {
      const ek = `${proto}:${a}:${ap}`;
      let extPort = this.ports.get(ek);
      if (extPort === undefined) { extPort = this.next++; this.ports.set(ek, extPort); }
      f = { intAddr: a, intPort: ap, remAddr: r, remPort: rp, extPort, expiresMs: 0 };
      this.out.set(key, f);
      this.in.set(`${proto}:${extPort}:${r}:${rp}`, f);
    }
    f.expiresMs = nowMs + 300_000;
    return f;
  }
  inbound(proto: number, r: number, rp: number, extPort: number, nowMs: number): MapFlow | undefined {
    const f = this.in.get(`${proto}:${extPort}:${r}:${rp}`);
    if (f) f.expiresMs = nowMs + 300_000;
    return f;
  }
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1);
}

function main(): void {
  console.log(`table-bench: node ${process.version}, ${FLOWS.toLocaleString()} flows, ${LOOKUPS.toLocaleString()} lookups`);
  // Precomputed random order so both sides do the same lookups.
  const order = new Uint32Array(LOOKUPS);
  let s = 12345;
  for (let i = 0; i < LOOKUPS; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; order[i] = s % FLOWS; }

  // --- the table
  gc();
  const before = used();
  const cfg = resolveNatConfig({ preset: 'rfc', capacity: FLOWS });
  if (!cfg.ok) throw new Error(cfg.problem);
  const t = new NatTable(cfg.config);
  t.setExternalAddress(EXT);
  let start = performance.now();
  for (let i = 0; i < FLOWS; i++) {
    const a = intAddr(i), ap = intPort(i), r = remAddr(i), rp = remPort(i);
    if (t.outbound(17, a, ap, r, rp, 0, 0) !== VERDICT.forward) throw new Error(`flow ${i}: ${t.result.reason}`);
  }
  const tableCreate = FLOWS / ((performance.now() - start) / 1000);
  const extPorts = new Uint16Array(FLOWS);
  for (let i = 0; i < FLOWS; i++) { const a = intAddr(i), ap = intPort(i), r = remAddr(i), rp = remPort(i); t.peekOutbound(17, a, ap, r, rp); extPorts[i] = t.result.port; }
  gc();
  const tableBytes = (used() - before - extPorts.byteLength) / FLOWS;

  start = performance.now();
  let ok = 0;
  for (let i = 0; i < LOOKUPS; i++) {
    const f = order[i]!;
    const a = intAddr(f), ap = intPort(f), r = remAddr(f), rp = remPort(f);
    if (i & 1) ok += t.inbound(17, r, rp, extPorts[f]!, 0, 1) === VERDICT.forward ? 1 : 0;
    else ok += t.outbound(17, a, ap, r, rp, 0, 1) === VERDICT.forward ? 1 : 0;
  }
  const tableLookups = LOOKUPS / ((performance.now() - start) / 1000);
  if (ok !== LOOKUPS) throw new Error(`table: ${LOOKUPS - ok} lookups failed`);
  // One expiry pass over the full table with nothing due: what the daemon's 1 s tick costs.
  start = performance.now();
  if (t.expire(2) !== 0) throw new Error('table: nothing should expire yet');
  const expireScanMs = performance.now() - start;
  const probes = t.probeStats();

  // --- the Map baseline
  gc();
  const beforeMap = used();
  const m = new MapNat();
  start = performance.now();
  for (let i = 0; i < FLOWS; i++) { const a = intAddr(i), ap = intPort(i), r = remAddr(i), rp = remPort(i); m.outbound(17, a, ap, r, rp, 0); }
  const mapCreate = FLOWS / ((performance.now() - start) / 1000);
  gc();
  const mapBytes = (used() - beforeMap) / FLOWS;
  const mapExt = new Uint16Array(FLOWS);
  for (let i = 0; i < FLOWS; i++) { const a = intAddr(i), ap = intPort(i), r = remAddr(i), rp = remPort(i); mapExt[i] = m.out.get(`17:${a}:${ap}:${r}:${rp}`)!.extPort; }
  start = performance.now();
  ok = 0;
  for (let i = 0; i < LOOKUPS; i++) {
    const f = order[i]!;
    const a = intAddr(f), ap = intPort(f), r = remAddr(f), rp = remPort(f);
    if (i & 1) ok += m.inbound(17, r, rp, mapExt[f]!, 1) ? 1 : 0;
    else ok += m.outbound(17, a, ap, r, rp, 1) ? 1 : 0;
  }
  const mapLookups = LOOKUPS / ((performance.now() - start) / 1000);
  if (ok !== LOOKUPS) throw new Error(`map: ${LOOKUPS - ok} lookups failed`);

  const rows: [string, string, string, string][] = [
    ['lookups/s (established, out+in mix)', fmt(tableLookups), fmt(mapLookups), `${(tableLookups / mapLookups).toFixed(1)}x`],
    ['new flows/s', fmt(tableCreate), fmt(mapCreate), `${(tableCreate / mapCreate).toFixed(1)}x`],
    [`heap bytes/flow at ${fmt(FLOWS)} flows`, tableBytes.toFixed(1), mapBytes.toFixed(1), `${(mapBytes / tableBytes).toFixed(1)}x less`],
  ];
  const w = [40, 14, 14, 12];
  const line = (c: string[]) => '| ' + c.map((x, i) => x.padEnd(w[i]!)).join(' | ') + ' |';
  console.log(line(['measure', 'nat-table', 'Map baseline', 'ratio']));
  console.log('|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  console.log(`targets: lookups >= 3x Map: ${tableLookups >= 3 * mapLookups ? 'met' : 'NOT met'}; <= 100 bytes/flow: ${tableBytes <= 100 ? 'met' : 'NOT met'}`);
  console.log(`(nat-table typed-array storage: ${(t.storageBytes / FLOWS).toFixed(1)} bytes/flow, all indexes included; `
    + `mean probe distance out ${probes.outMean.toFixed(2)} / in ${probes.inMean.toFixed(2)} slots; `
    + `expire pass over ${fmt(FLOWS)} flows, none due: ${expireScanMs.toFixed(1)} ms)`);
}

main();
