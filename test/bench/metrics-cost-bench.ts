/**
 * What scraping `/metrics` costs the packet path (issue 13, acceptance 6), short form:
 * in one lab and one run, `iperf3` UDP with 64-byte datagrams (`-u -l 64 -b 0`) from a
 * LAN host to the internet, in rounds that alternate between no scraper and a scraper
 * fetching `/metrics` every second over the admin TCP listener. Per round: datagrams
 * that arrived at the server's UDP layer per second and the daemon's CPU time per
 * datagram (as forwarding-bench measures them), and for the scraped rounds the number
 * of scrapes and their mean duration.
 *
 *   node test/dist/bench/metrics-cost-bench.js [--rounds 3] [--seconds 5]
 *
 * Needs root. The lab (prefix `oi-mc…`) is removed at the end, failed or not; only the
 * processes it started are ended, by pid.
 */
import { randomBytes } from 'node:crypto';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { labUp, labDown } from '@openigd/gateway';
import { Cleanup, background, uniquePrefix, until } from '../lib/ns.js';
import { parseUdpJson, runIperf } from './lib/iperf.js';
import { runBench } from './lib/bench-main.js';
import { clockTicksPerSecond, cpuMicrosPerDatagram, readProcessesCpu, readUdpCounters, udpArrivedBetween } from './lib/proc-stats.js';

const DIR = '/run/openigd-lab';
const PORT = 9108;

/** Scrapes every second until SIGTERM or `limit` scrapes; then prints `scrapes N mean_ms X bytes B`. */
const SCRAPER = `
import sys, time, urllib.request, threading, signal
url, token, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
n, total, size = 0, 0.0, 0
print("ready", flush=True)
while n < limit and not stop.is_set():
    t0 = time.monotonic()
    body = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer " + token}), timeout=5).read()
    total += time.monotonic() - t0; n += 1; size = len(body)
    stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))
print("scrapes %d mean_ms %.2f bytes %d" % (n, 1000 * total / max(n, 1), size), flush=True)
`;

interface Round {
  readonly scraped: boolean;
  readonly arrivedPerSecond: number;
  readonly microsPerDatagram: number;
  readonly scraper: string;
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > 60) throw new Error(`--${name} must be an integer 1-60`);
  return v;
}

async function main(): Promise<number> {
  const rounds = option('rounds', 3);
  const seconds = option('seconds', 5);
  const prefix = uniquePrefix('mc');
  const cleanup = new Cleanup();
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(DIR, `${prefix}-token`);
  try {
    cleanup.add(() => rm(tokenFile, { force: true }));
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    cleanup.add(() => labDown(prefix, DIR));
    const lab = await labUp({ prefix, dir: DIR, adminConfig: `listen: 127.0.0.1:${PORT}, tokenFile: ${tokenFile}` });
    const { h1, gw, inet } = lab.namespaces;
    const ticks = await clockTicksPerSecond();
    const pids = [lab.daemonPid, ...lab.lanNapiPids];
    const results: Round[] = [];
    for (let i = 0; i < rounds * 2; i++) {
      const scraped = i % 2 === 1;
      const scraper = scraped ? background(gw, 'python3', ['-c', SCRAPER, `http://127.0.0.1:${PORT}/metrics`, token, String(seconds + 30)]) : null;
      if (scraper) {
        cleanup.add(() => scraper.stop());
        await until('the scraper', async () => scraper.output().includes('ready'), 10_000, 20);
      }
      const [udp0, cpu0] = await Promise.all([readUdpCounters(inet), readProcessesCpu(pids)]);
      const text = await runIperf({ serverNs: inet, serverAddr: lab.servers[0]!, clientNs: h1, seconds }, ['-u', '-l', '64', '-b', '0']);
      const [udp1, cpu1] = await Promise.all([readUdpCounters(inet), readProcessesCpu(pids)]);
      let scraperSays = '';
      if (scraper) {
        await scraper.stop();
        scraperSays = /scrapes .*/.exec(scraper.output())?.[0] ?? scraper.output().trim();
      }
      const udp = text.ok ? parseUdpJson(text.value) : text;
      if (!udp.ok || !udp0.ok || !udp1.ok || !cpu0.ok || !cpu1.ok) throw new Error(`round ${i + 1}: ${[udp, udp0, udp1, cpu0, cpu1].map((m) => (m.ok ? '' : m.reason)).join(' ')}`);
      const arrived = udpArrivedBetween(udp0.value, udp1.value);
      if (!arrived.ok) throw new Error(arrived.reason);
      const us = cpuMicrosPerDatagram(cpu0.value, cpu1.value, ticks, arrived.value);
      if (!us.ok) throw new Error(us.reason);
      const r: Round = { scraped, arrivedPerSecond: arrived.value / udp.value.seconds, microsPerDatagram: us.value, scraper: scraperSays };
      results.push(r);
      console.log(`round ${i + 1} ${scraped ? 'scraped 1/s' : 'no scrape  '}: ${Math.round(r.arrivedPerSecond)} pkts/s arrived, ${r.microsPerDatagram.toFixed(2)} µs daemon CPU per datagram${r.scraper ? ` (${r.scraper})` : ''}`);
    }
    for (const scraped of [false, true]) {
      const rs = results.filter((r) => r.scraped === scraped);
      const pps = rs.map((r) => r.arrivedPerSecond);
      const us = rs.map((r) => r.microsPerDatagram);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      console.log(`${scraped ? 'scraped 1/s' : 'no scrape  '}: mean ${Math.round(mean(pps))} pkts/s (${Math.round(Math.min(...pps))}-${Math.round(Math.max(...pps))}), `
        + `${mean(us).toFixed(2)} µs/datagram (${Math.min(...us).toFixed(2)}-${Math.max(...us).toFixed(2)})`);
    }
    return 0;
  } finally {
    await cleanup.run();
  }
}

await runBench('metrics-cost-bench', main);
