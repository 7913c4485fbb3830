/**
 * Mapping-store benchmark (U14; issue 4, acceptance 7's durability budget): durable puts
 * per second while the table grows from 0 to 4,000 mappings, reported per window of 1,000
 * starting at 0, 1,000, 2,000 and 3,000 mappings; once with one put in flight at a time
 * (every put awaited, as one SOAP client does) and once with 16 in flight (group commit,
 * as concurrent clients do). Every counted put was on stable storage (an O_DSYNC write returned) before it resolved.
 * Then churn: 10,000 edits of existing mappings on the full table (re-adds, as clients renew
 * and rename), which grows the journal past its compaction threshold (2 × mappings), so
 * the cost of compaction shows in that rate and its worst latency.
 * Also: compactions, synchronous writes (group commits), p99 latency per window, and load() time for the full table.
 * Target: ≥ 1,000 durable puts/s, flat as the table grows (last window / first ≥ 0.7).
 * Last, for information: the latency of one put at a time with a pause of SPACED_GAP_MS
 * before each, as a sequential SOAP client's adds reach the store (a disk, or a virtual
 * disk, may answer a write after an idle moment more slowly than back to back).
 *
 *   node test/dist/bench/store-bench.js [--dir DIR]
 *
 * DIR (default: a new directory under the OS temp dir, on its own file system type) must be
 * on the disk being measured: tmpfs makes a synchronous write free. The directory it creates is
 * removed at the end, even on failure; a --dir given is used as a parent for a fresh one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileMappingStore } from '@openigd/igd-service';
import type { PortMapping } from '@openigd/igd-service';

const LEVELS = [0, 1000, 2000, 3000];
const WINDOW = 1000;
const TARGET_PER_SECOND = 1000;
const CHURN_EDITS = 10_000;
/** The spaced puts: how many, and the pause before each (about a sequential add's round trip). */
const SPACED_PUTS = 400;
const SPACED_GAP_MS = 1;

interface WindowResult {
  readonly fromMappings: number;
  readonly putsPerSecond: number;
  readonly p99Ms: number;
}

interface RunResult {
  readonly inFlight: number;
  readonly windows: WindowResult[];
  readonly churn: WindowResult & { readonly maxMs: number; readonly compactions: number };
  readonly commits: number;
  readonly compactions: number;
  readonly loadMs: number;
  readonly loaded: number;
}

function mapping(i: number, edit = 0): PortMapping {
  return {
    remoteHost: '', externalPort: 1024 + i, protocol: i % 2 ? 'UDP' : 'TCP', internalPort: 2000 + (i % 50_000),
    internalClient: `192.168.${1 + (i >> 8) % 250}.${1 + (i % 250)}`, enabled: true,
    description: `bench mapping ${i} (libtorrent/2.0) edit ${edit}`, leaseSeconds: 0, expiresAtMs: 0,
    origin: 'upnp', requester: '192.168.1.2',
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Puts `put(k)` for k < count with `inFlight` concurrent writers; rate, p99 and worst latency. */
async function timedPuts(
  store: FileMappingStore, count: number, inFlight: number, put: (k: number) => PortMapping,
): Promise<{ putsPerSecond: number; p99Ms: number; maxMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const startMs = performance.now();
  const writer = async (): Promise<void> => {
    while (next < count) {
      const m = put(next++);
      const t0 = performance.now();
      await store.put(m);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, () => writer()));
  const elapsedMs = performance.now() - startMs;
  latencies.sort((a, b) => a - b);
  return { putsPerSecond: (count * 1000) / elapsedMs, p99Ms: percentile(latencies, 0.99), maxMs: latencies[latencies.length - 1] };
}

async function run(parent: string, inFlight: number): Promise<RunResult> {
  const dir = await mkdtemp(join(parent, 'oi-store-bench-'));
  try {
    const store = new FileMappingStore({ directory: dir });
    await store.load();
    const windows: WindowResult[] = [];
    for (const level of LEVELS) {
      const w = await timedPuts(store, WINDOW, inFlight, (k) => mapping(level + k));
      windows.push({ fromMappings: level, putsPerSecond: w.putsPerSecond, p99Ms: w.p99Ms });
    }
    const size = LEVELS[LEVELS.length - 1] + WINDOW;
    const compactionsBefore = store.stats().compactions;
    const c = await timedPuts(store, CHURN_EDITS, inFlight, (k) => mapping((k * 7919) % size, 1 + Math.floor(k / size)));
    const churn = { fromMappings: size, ...c, compactions: store.stats().compactions - compactionsBefore };
    const { commits, compactions } = store.stats();
    await store.close();
    const t0 = performance.now();
    const again = new FileMappingStore({ directory: dir });
    const loaded = (await again.load()).length;
    const loadMs = performance.now() - t0;
    await again.close();
    return { inFlight, windows, churn, commits, compactions, loadMs, loaded };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Put latency percentiles (ms) of SPACED_PUTS puts, one at a time, each after a pause of SPACED_GAP_MS. */
async function spacedPuts(parent: string): Promise<{ p50: number; p90: number; p99: number }> {
  const dir = await mkdtemp(join(parent, 'oi-store-bench-'));
  try {
    const store = new FileMappingStore({ directory: dir });
    await store.load();
    const latencies: number[] = [];
    for (let i = 0; i < SPACED_PUTS; i++) {
      await new Promise((resolve) => setTimeout(resolve, SPACED_GAP_MS));
      const t0 = performance.now();
      await store.put(mapping(i));
      latencies.push(performance.now() - t0);
    }
    await store.close();
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 0.5), p90: percentile(latencies, 0.9), p99: percentile(latencies, 0.99) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function report(r: RunResult): boolean {
  console.log(`\n${r.inFlight} put${r.inFlight > 1 ? 's' : ''} in flight`);
  console.log('  mappings at start   durable puts/s   p99 latency');
  for (const w of r.windows) {
    console.log(`  ${String(w.fromMappings).padStart(16)}   ${w.putsPerSecond.toFixed(0).padStart(14)}   ${w.p99Ms.toFixed(3).padStart(8)} ms`);
  }
  const first = r.windows[0].putsPerSecond;
  const last = r.windows[r.windows.length - 1].putsPerSecond;
  const slowest = Math.min(...r.windows.map((w) => w.putsPerSecond), r.churn.putsPerSecond);
  const flat = last / first;
  const c = r.churn;
  console.log(`  churn: ${CHURN_EDITS} edits on ${c.fromMappings} mappings ${c.putsPerSecond.toFixed(0)}/s, ` +
    `p99 ${c.p99Ms.toFixed(3)} ms, max ${c.maxMs.toFixed(3)} ms, ${c.compactions} compactions`);
  console.log(`  synchronous writes ${r.commits} for ${LEVELS.length * WINDOW + CHURN_EDITS} puts, compactions ${r.compactions}, ` +
    `load() of ${r.loaded} mappings ${r.loadMs.toFixed(1)} ms`);
  const ok = slowest >= TARGET_PER_SECOND && flat >= 0.7;
  console.log(`  slowest window ${slowest.toFixed(0)}/s (target ≥ ${TARGET_PER_SECOND}), last/first ${flat.toFixed(2)} → ${ok ? 'meets' : 'MISSES'} the target`);
  return ok;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dirAt = args.indexOf('--dir');
  const parent = dirAt >= 0 && args[dirAt + 1] ? args[dirAt + 1] : tmpdir();
  console.log(`store-bench: node ${process.version}, directory under ${parent}`);
  let ok = true;
  for (const inFlight of [1, 16]) ok = report(await run(parent, inFlight)) && ok;
  const spaced = await spacedPuts(parent);
  console.log(`\none put at a time, each after a ${SPACED_GAP_MS} ms pause (${SPACED_PUTS} puts): latency p50 ${spaced.p50.toFixed(3)} ms, `
    + `p90 ${spaced.p90.toFixed(3)} ms, p99 ${spaced.p99.toFixed(3)} ms`);
  process.exitCode = ok ? 0 : 1;
}

await main();
