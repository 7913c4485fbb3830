/**
 * Issue 13, acceptance 5: a capture taken in the lab while traffic crosses the gateway
 * (ping, UDP and TCP with iperf3), replayed offline with `openigd replay` and the same
 * config, gives the frames the live gateway sent, compared field by field with tshark.
 *
 * The daemon's capture of a port holds both what it received and what it sent. The live
 * outputs are the frames whose Ethernet source is the gateway's MAC on that port; the
 * replay reads the same two files as its input (it skips those frames itself) and writes
 * its outputs. Both sides are then compared on the same fields, in order, with two
 * exclusions applied to both alike, because the replay does not run these parts:
 *  - frames from the gateway's LAN address (its own services through the local port:
 *    SSDP NOTIFY, NAT-PMP announcements, HTTP), which no captured input causes;
 *  - DHCP (UDP port 67): the replay has no DHCP server.
 * Run with the TAPs' offloads off and on (then the captures hold GSO super-frames).
 * The NAT preset is `rfc` (port preservation), so external ports are chosen the same
 * way live and offline; with `portAllocation: random` they would differ (the replay
 * draws from its own seeded source), and with them the L4 checksums.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot } from '../lib/ns.js';
import { status } from '../lib/admin.js';

const DIR = '/run/openigd-lab';
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'gateway', 'dist', 'cli.js');
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

/** What is compared for every frame: addresses, ports, IDs, TTLs, TCP sequence numbers, every checksum, the stamp. */
const FIELDS = [
  'frame.len', 'eth.src', 'eth.dst', 'arp.opcode', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4',
  'ip.src', 'ip.dst', 'ip.id', 'ip.ttl', 'ip.flags', 'ip.checksum',
  'icmp.type', 'icmp.ident', 'icmp.seq', 'icmp.checksum',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.window_size_value', 'tcp.checksum',
];

/** One line per frame of `file` that passes `filter`: the fields, then the stamp. */
async function fields(file: string, filter: string): Promise<{ frames: string[]; stamps: string[] }> {
  const out = await must(null, 'tshark', ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=|', ...FIELDS.flatMap((f) => ['-e', f]), '-e', 'frame.time_epoch'], 120_000);
  const lines = out.split('\n').filter(Boolean);
  return { frames: lines.map((l) => l.slice(0, l.lastIndexOf('|'))), stamps: lines.map((l) => l.slice(l.lastIndexOf('|') + 1)) };
}

/** The first index where two lists differ, with a few lines of each around it, for a failure message. */
function firstDifference(a: string[], b: string[]): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return 'none';
  const show = (xs: string[]): string => xs.slice(Math.max(0, i - 1), i + 3).join('\n    ');
  return `at frame ${i} of ${a.length} live / ${b.length} replayed:\n  live:\n    ${show(a)}\n  replay:\n    ${show(b)}`;
}

describe('offline replay gives the frames the live gateway sent (B4)', { skip }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  for (const offload of [false, true]) test(`offload ${offload ? 'on' : 'off'}: ping, UDP and TCP through the lab, replayed from its captures, compared with tshark`, async () => {
    const prefix = uniquePrefix('rp');
    cleanup.add(() => labDown(prefix, DIR));
    const capDir = join(DIR, `${prefix}-pcap`);
    cleanup.add(() => sh(null, 'rm', ['-rf', capDir]));
    const lab = await labUp({ prefix, dir: DIR, extraConfig: `offload: ${offload}\ncapture: { dir: ${capDir} }` });
    const { h1, inet } = lab.namespaces;
    const server = lab.servers[0]!;
    const gw = await status(lab.adminSocket);
    const configPath = join(capDir, 'gw.yaml');
    await writeFile(configPath, await readFile(lab.configPath, 'utf8'));

    const iperf = background(inet, 'iperf3', ['-s', '-B', server]);
    cleanup.add(() => iperf.stop());
    await iperf.listening('tcp', 5201);
    await must(h1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', server]);
    await must(h1, 'iperf3', ['-c', server, '-u', '-t', '1', '-b', '1M', '-l', '400'], 30_000);
    await must(h1, 'iperf3', ['-c', server, '-t', '1', '-b', '20M'], 30_000);
    await iperf.stop();
    await labDown(prefix, DIR);

    const files = await readdir(capDir);
    const live = (side: string): string => join(capDir, files.find((f) => f.startsWith(`${side}-`) && f.endsWith('.pcap'))!);
    const [lanIn, wanIn] = [live('lan'), live('wan')];
    const replay = async (tag: string): Promise<{ lan: string; wan: string; summary: Record<string, unknown> }> => {
      const out = { lan: join(capDir, `replay-lan-${tag}.pcap`), wan: join(capDir, `replay-wan-${tag}.pcap`) };
      const r = await must(null, process.execPath, [CLI, 'replay', '--config', configPath, '--lan', lanIn, '--wan', wanIn, '--out-lan', out.lan, '--out-wan', out.wan], 120_000);
      return { ...out, summary: JSON.parse(r) as Record<string, unknown> };
    };
    const first = await replay('a');
    console.log(`# replay: input ${JSON.stringify(first.summary.input)}, skipped own ${JSON.stringify(first.summary.skippedOwn)}, output ${JSON.stringify(first.summary.output)}`);

    const EXCLUDE = `!(ip.src == ${lab.lanAddress}) && !(udp.port == 67)`;
    for (const [side, input, out, mac] of [['lan', lanIn, first.lan, gw.lan.mac], ['wan', wanIn, first.wan, gw.wan.mac]] as const) {
      const sent = await fields(input, `eth.src == ${mac} && ${EXCLUDE}`);
      const replayed = await fields(out, EXCLUDE);
      assert.ok(sent.frames.length >= 50, `${side}: the live gateway sent ${sent.frames.length} frames that a replay can reproduce`);
      assert.equal(firstDifference(sent.frames, replayed.frames), 'none', `${side}: the replayed frames differ from the live ones`);
      const sameStamp = sent.stamps.filter((s, i) => s === replayed.stamps[i]).length;
      console.log(`# offload ${offload}, ${side}: ${sent.frames.length} frames equal in every field; ${sameStamp} of them with the same stamp to the µs`);
      assert.ok(sameStamp >= sent.frames.length * 0.99, `${side}: stamps follow the capture's clock (${sameStamp} of ${sent.frames.length})`);
    }

    if (offload) {
      // With offloads the captures hold GSO super-frames (recorded whole), and the replay handled them as such.
      const big = (await fields(wanIn, 'frame.len > 1514')).frames.length + (await fields(lanIn, 'frame.len > 1514')).frames.length;
      console.log(`# offload on: ${big} super-frames in the captures`);
      assert.ok(big > 0, 'the captures with offloads hold super-frames');
    }

    // Determinism on a real capture: a second run writes the same bytes.
    const second = await replay('b');
    for (const side of ['lan', 'wan'] as const) {
      assert.ok((await readFile(first[side])).equals(await readFile(second[side])), `${side}: a second replay is byte-identical`);
    }
  });
});
