/**
 * `openigd replay --config gw.yaml --lan lan.pcap --wan wan.pcap --out-lan A --out-wan B
 * [--seed N]`: runs two captures through the gateway built from the config (see
 * replay.ts) and writes what it would have sent on each side as pcap. Prints a JSON
 * summary (frames in, skipped, out, drops by reason) on stdout.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { readPcapFile } from '../capture/pcap-reader.js';
import { PcapWriter } from '../capture/pcap-writer.js';
import { Replay, type ReplaySummary } from './replay.js';

export const REPLAY_USAGE = 'openigd replay --config FILE --lan LAN.pcap --wan WAN.pcap --out-lan OUT-LAN.pcap --out-wan OUT-WAN.pcap [--seed N]';

/** The snap length of the outputs: super-frames are kept whole, as in the daemon's captures. */
const SNAP_BYTES = 262_144;

export interface ReplayFiles {
  readonly config: string;
  readonly lan: string;
  readonly wan: string;
  readonly outLan: string;
  readonly outWan: string;
  readonly seed?: number;
}

/** A command line that cannot be run; the message is one line for stderr. */
export class ReplayUsageError extends Error {}

/** Reads `replay`'s arguments (after the subcommand). */
export function parseReplayArgs(args: readonly string[]): ReplayFiles {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args], strict: true, allowPositionals: false,
      options: {
        config: { type: 'string' }, lan: { type: 'string' }, wan: { type: 'string' },
        'out-lan': { type: 'string' }, 'out-wan': { type: 'string' }, seed: { type: 'string' },
      },
    }));
  } catch (e) {
    throw new ReplayUsageError(`${(e as Error).message}\nusage: ${REPLAY_USAGE}`);
  }
  const need = (name: 'config' | 'lan' | 'wan' | 'out-lan' | 'out-wan'): string => {
    const v = values[name];
    if (!v) throw new ReplayUsageError(`replay needs --${name}\nusage: ${REPLAY_USAGE}`);
    return v;
  };
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new ReplayUsageError('--seed must be an integer 0..4294967295');
  return { config: need('config'), lan: need('lan'), wan: need('wan'), outLan: need('out-lan'), outWan: need('out-wan'), ...(seed === undefined ? {} : { seed }) };
}

/** What `replayFiles` did: the replay's summary, and the bytes of a torn last record left out of each input. */
export interface ReplayFilesResult extends ReplaySummary {
  readonly truncatedBytes: { readonly lan: number; readonly wan: number };
}

/** Runs a replay from files to files. */
export async function replayFiles(f: ReplayFiles): Promise<ReplayFilesResult> {
  const config = await loadConfig(f.config);
  const [lan, wan] = await Promise.all([readPcapFile(f.lan), readPcapFile(f.wan)]);
  let failure: Error | null = null;
  const onError = (e: Error): void => { failure ??= e; };
  const outLan = new PcapWriter(f.outLan, SNAP_BYTES, onError);
  const outWan = new PcapWriter(f.outWan, SNAP_BYTES, onError);
  let summary: ReplaySummary;
  try {
    const replay = new Replay(config, { lan: outLan, wan: outWan }, f.seed === undefined ? {} : { seed: f.seed });
    replay.run(lan, wan);
    summary = replay.summary();
  } finally {
    // Written out, not fsynced: the same inputs give the same outputs again.
    outLan.close({ sync: false });
    outWan.close({ sync: false });
  }
  if (failure) throw failure;
  return { ...summary, truncatedBytes: { lan: lan.truncatedBytes, wan: wan.truncatedBytes } };
}

/** `openigd replay ...`: the summary as JSON on stdout; a torn input is said on stderr. */
export async function replayCli(args: readonly string[]): Promise<void> {
  const f = parseReplayArgs(args);
  const r = await replayFiles(f);
  for (const side of ['lan', 'wan'] as const) {
    if (r.truncatedBytes[side] > 0) process.stderr.write(`openigd: ${f[side]}: the last ${r.truncatedBytes[side]} bytes are a torn record, left out\n`);
  }
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
