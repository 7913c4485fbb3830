/**
 * NAT behaviour as configuration (RFC 4787 UDP, RFC 5382 TCP, RFC 5508 ICMP,
 * RFC 7857): mapping and filtering behaviours, port allocation, hairpinning,
 * timeouts, capacity — and the named presets. `resolveNatConfig` merges a preset with
 * overrides and validates; it returns the problem instead of throwing.
 */

export const BEHAVIOUR = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const;
export type Behaviour = (typeof BEHAVIOUR)[number];
export const PORT_ALLOCATION = ['preserve', 'sequential', 'random'] as const;
export type PortAllocation = (typeof PORT_ALLOCATION)[number];
export const PRESET_NAMES = ['full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric', 'rfc'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface NatTimeouts {
  /** RFC 4787 REQ-5: at least 2 min, 5 min recommended. */
  readonly udpMs: number;
  /** RFC 5382 REQ-5: at least 2 h 4 min. */
  readonly tcpEstablishedMs: number;
  /** RFC 5382 REQ-5: 4 min for partially open or closing connections. */
  readonly tcpTransitoryMs: number;
  /** RFC 5508 REQ-1: at least 60 s for ICMP query mappings. */
  readonly icmpMs: number;
}

export interface NatConfig {
  readonly mapping: Behaviour;
  readonly filtering: Behaviour;
  readonly portAllocation: PortAllocation;
  /** External ports for internal ports ≥ 1024; internal ports below 1024 map into 1–1023. */
  readonly portRange: { readonly min: number; readonly max: number };
  readonly hairpinning: boolean;
  readonly timeouts: NatTimeouts;
  /** Most live flows at once. */
  readonly capacity: number;
  /**
   * Most live flows one internal address may hold at once (0: no limit but `capacity`), so
   * that one LAN host cannot take the whole table from the others.
   */
  readonly maxFlowsPerClient: number;
  /** Uniform [0, 1) source for random allocation; tests pass a seeded one. */
  readonly random: () => number;
}

export const DEFAULT_TIMEOUTS: NatTimeouts = {
  udpMs: 300_000, tcpEstablishedMs: 7_440_000, tcpTransitoryMs: 240_000, icmpMs: 60_000,
};

type Preset = Pick<NatConfig, 'mapping' | 'filtering' | 'portAllocation' | 'hairpinning'>;

/**
 * The presets. `rfc` is the conformant default: endpoint-independent mapping (RFC 4787
 * REQ-1, RFC 5382 REQ-1) with address-dependent filtering — REQ-8 allows endpoint-
 * independent filtering "if application transparency is most important" and
 * address-dependent "if a more stringent filtering behavior is most important"; a
 * gateway that also runs an IGD for the applications that need openness takes the
 * stringent one. Port preservation (REQ-3 keeps the port class), hairpinning (REQ-9).
 */
export const NAT_PRESETS: Readonly<Record<PresetName, Preset>> = {
  'full-cone': { mapping: 'endpoint-independent', filtering: 'endpoint-independent', portAllocation: 'preserve', hairpinning: true },
  'restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-dependent', portAllocation: 'preserve', hairpinning: true },
  'port-restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', portAllocation: 'preserve', hairpinning: true },
  symmetric: { mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', portAllocation: 'random', hairpinning: false },
  rfc: { mapping: 'endpoint-independent', filtering: 'address-dependent', portAllocation: 'preserve', hairpinning: true },
};

export interface NatConfigInput {
  readonly preset?: string;
  readonly mapping?: string;
  readonly filtering?: string;
  readonly portAllocation?: string;
  readonly portRange?: { readonly min: number; readonly max: number };
  readonly hairpinning?: boolean;
  readonly timeouts?: Partial<NatTimeouts>;
  readonly capacity?: number;
  readonly maxFlowsPerClient?: number;
  readonly random?: () => number;
}

export type NatConfigResult = { ok: true; config: NatConfig } | { ok: false; field: string; problem: string };

function bad(field: string, problem: string): NatConfigResult {
  return { ok: false, field, problem };
}

const isInt = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

const INPUT_KEYS = ['preset', 'mapping', 'filtering', 'portAllocation', 'portRange', 'hairpinning', 'timeouts', 'capacity', 'maxFlowsPerClient', 'random'];
const TIMEOUT_KEYS = Object.keys(DEFAULT_TIMEOUTS);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Merges a preset (default `rfc`) with overrides and checks every value. Takes the
 * input as parsed from a file, so anything may arrive: a wrong value or an unknown
 * key comes back as `{ ok: false, field, problem }` (field empty when the input as a
 * whole is wrong), never as an exception.
 */
export function resolveNatConfig(input: NatConfigInput | PresetName = {}): NatConfigResult {
  if (typeof input !== 'string' && !isObject(input)) return bad('', 'must be an object or a preset name');
  const i: NatConfigInput = typeof input === 'string' ? { preset: input } : input;
  const unknown = Object.keys(i).find((k) => !INPUT_KEYS.includes(k));
  if (unknown !== undefined) return bad(unknown, `unknown setting (known: ${INPUT_KEYS.join(', ')})`);
  const presetName = i.preset ?? 'rfc';
  if (!(PRESET_NAMES as readonly string[]).includes(presetName)) return bad('preset', `must be one of ${PRESET_NAMES.join(', ')}`);
  const p = NAT_PRESETS[presetName as PresetName];
  for (const f of ['mapping', 'filtering'] as const) {
    if (i[f] !== undefined && !(BEHAVIOUR as readonly string[]).includes(i[f])) return bad(f, `must be one of ${BEHAVIOUR.join(', ')}`);
  }
  if (i.portAllocation !== undefined && !(PORT_ALLOCATION as readonly string[]).includes(i.portAllocation)) {
    return bad('portAllocation', `must be one of ${PORT_ALLOCATION.join(', ')}`);
  }
  if (i.portRange !== undefined && !isObject(i.portRange)) return bad('portRange', 'must be an object { min, max }');
  const portRange = i.portRange ?? { min: 1024, max: 65535 };
  if (!isInt(portRange.min, 1024, 65535)) return bad('portRange.min', 'must be an integer 1024-65535');
  if (!isInt(portRange.max, 1024, 65535)) return bad('portRange.max', 'must be an integer 1024-65535');
  if (portRange.min > portRange.max) return bad('portRange', 'min is greater than max');
  if (i.timeouts !== undefined && !isObject(i.timeouts)) return bad('timeouts', 'must be an object');
  const unknownTimeout = Object.keys(i.timeouts ?? {}).find((k) => !TIMEOUT_KEYS.includes(k));
  if (unknownTimeout !== undefined) return bad(`timeouts.${unknownTimeout}`, `unknown timeout (known: ${TIMEOUT_KEYS.join(', ')})`);
  const timeouts = { ...DEFAULT_TIMEOUTS, ...i.timeouts };
  const floors: Record<keyof NatTimeouts, number> = { udpMs: 1000, tcpEstablishedMs: 1000, tcpTransitoryMs: 1000, icmpMs: 1000 };
  for (const k of Object.keys(floors) as (keyof NatTimeouts)[]) {
    if (!isInt(timeouts[k], floors[k], 86_400_000)) return bad(`timeouts.${k}`, 'must be an integer number of ms, 1000-86400000');
  }
  const capacity = i.capacity ?? 65_536;
  if (!isInt(capacity, 1, 16_777_216)) return bad('capacity', 'must be an integer 1-16777216');
  const maxFlowsPerClient = i.maxFlowsPerClient ?? 0;
  if (!isInt(maxFlowsPerClient, 0, 16_777_216)) return bad('maxFlowsPerClient', 'must be an integer 0-16777216 (0: no limit)');
  if (i.hairpinning !== undefined && typeof i.hairpinning !== 'boolean') return bad('hairpinning', 'must be true or false');
  if (i.random !== undefined && typeof i.random !== 'function') return bad('random', 'must be a function returning a number in [0, 1)');
  return {
    ok: true,
    config: {
      mapping: (i.mapping as Behaviour | undefined) ?? p.mapping,
      filtering: (i.filtering as Behaviour | undefined) ?? p.filtering,
      portAllocation: (i.portAllocation as PortAllocation | undefined) ?? p.portAllocation,
      portRange: { min: portRange.min, max: portRange.max },
      hairpinning: i.hairpinning ?? p.hairpinning,
      timeouts,
      capacity,
      maxFlowsPerClient,
      random: i.random ?? Math.random,
    },
  };
}
