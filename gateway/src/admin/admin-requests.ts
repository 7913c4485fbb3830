/**
 * The admin API's request shapes and their checks: the query of `GET /flows`, the bodies of
 * `POST /mappings`, `PATCH /mappings/:protocol/:externalPort` and `POST /capture`, and the
 * mapping key in the path. Each check returns the value or `{ field, problem }` naming the
 * first thing wrong, which the API answers as 400. Pure: no I/O.
 */
import { TCP_STATE_NAMES, parseIpv4, type TcpStateName } from '@openigd/nat-table';

export interface BadField {
  readonly field: string;
  readonly problem: string;
}

/** `GET /flows`'s filters and page. */
export interface FlowQuery {
  readonly protocol?: 'tcp' | 'udp' | 'icmp';
  /** Matches the internal, remote or external address. */
  readonly addr?: string;
  /** Matches the internal, remote or external port. */
  readonly port?: number;
  readonly state?: TcpStateName;
  readonly offset: number;
  readonly limit: number;
}

export const FLOWS_DEFAULT_LIMIT = 100;
/** The most flows one answer carries: a table of a million flows is read a page at a time. */
export const FLOWS_MAX_LIMIT = 10_000;

export type MappingTransport = 'TCP' | 'UDP';

/** `POST /mappings`: a mapping the operator makes. */
export interface MappingInput {
  readonly protocol: MappingTransport;
  readonly externalPort: number;
  readonly internalClient: string;
  readonly internalPort: number;
  readonly description?: string;
  /** 0 or absent: static. */
  readonly leaseSeconds?: number;
  readonly enabled?: boolean;
}

/** `PATCH /mappings/:protocol/:externalPort`: the fields to change. */
export type MappingPatch = Partial<Pick<MappingInput, 'enabled' | 'description' | 'internalClient' | 'internalPort' | 'leaseSeconds'>>;

export interface MappingKeyParams {
  readonly protocol: MappingTransport;
  readonly externalPort: number;
}

/** UPnP's longest lease (ui4 seconds is more, but a week is what IGD:2 allows). */
const MAX_LEASE_SECONDS = 604_800;
const MAX_DESCRIPTION = 256;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65_535;
const isQuad = (v: unknown): v is string => typeof v === 'string' && parseIpv4(v) !== null;

/** A query parameter given once, as text; an array (given twice) is refused. */
function single(query: Record<string, unknown>, name: string): string | undefined | BadField {
  const v = query[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : { field: name, problem: 'must be given once' };
}

/** A whole decimal number in [min, max] from query text. */
function queryInteger(text: string, field: string, min: number, max: number): number | BadField {
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  return Number.isInteger(n) && n >= min && n <= max ? n : { field, problem: `must be a whole number from ${min} to ${max}` };
}

const isBad = (v: unknown): v is BadField => isObject(v) && typeof v.field === 'string' && typeof v.problem === 'string';

/** Checks `GET /flows`'s query: limit (default 100, at most 10,000), offset, proto, addr, port, state. */
export function parseFlowQuery(query: Record<string, unknown>): FlowQuery | BadField {
  const known = new Set(['limit', 'offset', 'proto', 'addr', 'port', 'state']);
  for (const k of Object.keys(query)) if (!known.has(k)) return { field: k, problem: 'is not a known filter' };
  const text: Record<string, string | undefined> = {};
  for (const k of known) {
    const v = single(query, k);
    if (isBad(v)) return v;
    text[k] = v;
  }
  const limit = text.limit === undefined ? FLOWS_DEFAULT_LIMIT : queryInteger(text.limit, 'limit', 1, FLOWS_MAX_LIMIT);
  if (isBad(limit)) return limit;
  const offset = text.offset === undefined ? 0 : queryInteger(text.offset, 'offset', 0, 100_000_000);
  if (isBad(offset)) return offset;
  const proto = text.proto?.toLowerCase();
  if (proto !== undefined && proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp') return { field: 'proto', problem: 'must be tcp, udp or icmp' };
  if (text.addr !== undefined && !isQuad(text.addr)) return { field: 'addr', problem: 'must be "a.b.c.d"' };
  const port = text.port === undefined ? undefined : queryInteger(text.port, 'port', 0, 65_535);
  if (isBad(port)) return port;
  const state = text.state as TcpStateName | undefined;
  if (state !== undefined && !TCP_STATE_NAMES.includes(state)) return { field: 'state', problem: `must be one of ${TCP_STATE_NAMES.join(', ')}` };
  if (state !== undefined && proto !== undefined && proto !== 'tcp') return { field: 'state', problem: 'applies to tcp flows only' };
  return {
    limit, offset, ...(proto ? { protocol: proto } : {}), ...(text.addr !== undefined ? { addr: text.addr } : {}),
    ...(port !== undefined ? { port } : {}), ...(state ? { state } : {}),
  };
}

/** The mapping fields both bodies share, checked where present; the first problem, or null. */
function checkMappingFields(b: Record<string, unknown>): BadField | null {
  if (b.externalPort !== undefined && !isPort(b.externalPort)) return { field: 'externalPort', problem: 'must be a port, 1-65535' };
  if (b.internalPort !== undefined && !isPort(b.internalPort)) return { field: 'internalPort', problem: 'must be a port, 1-65535' };
  if (b.internalClient !== undefined && !isQuad(b.internalClient)) return { field: 'internalClient', problem: 'must be "a.b.c.d"' };
  if (b.description !== undefined && (typeof b.description !== 'string' || b.description.length > MAX_DESCRIPTION)) {
    return { field: 'description', problem: `must be text of at most ${MAX_DESCRIPTION} characters` };
  }
  const lease = b.leaseSeconds;
  if (lease !== undefined && (!Number.isInteger(lease) || (lease as number) < 0 || (lease as number) > MAX_LEASE_SECONDS)) {
    return { field: 'leaseSeconds', problem: `must be a whole number of seconds, 0 (static) to ${MAX_LEASE_SECONDS}` };
  }
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean') return { field: 'enabled', problem: 'must be true or false' };
  return null;
}

function unknownField(b: Record<string, unknown>, known: readonly string[]): BadField | null {
  const k = Object.keys(b).find((x) => !known.includes(x));
  return k === undefined ? null : { field: k, problem: 'is not a known field' };
}

const INPUT_FIELDS = ['protocol', 'externalPort', 'internalClient', 'internalPort', 'description', 'leaseSeconds', 'enabled'] as const;
const PATCH_FIELDS = ['enabled', 'description', 'internalClient', 'internalPort', 'leaseSeconds'] as const;

/** Checks a `POST /mappings` body. */
export function parseMappingInput(body: unknown): MappingInput | BadField {
  if (!isObject(body)) return { field: '(body)', problem: 'must be a JSON object' };
  const unknown = unknownField(body, INPUT_FIELDS);
  if (unknown) return unknown;
  if (body.protocol !== 'TCP' && body.protocol !== 'UDP') return { field: 'protocol', problem: 'must be "TCP" or "UDP"' };
  for (const f of ['externalPort', 'internalClient', 'internalPort'] as const) {
    if (body[f] === undefined) return { field: f, problem: 'is required' };
  }
  const bad = checkMappingFields(body);
  if (bad) return bad;
  const out: Record<string, unknown> = {};
  for (const f of INPUT_FIELDS) if (body[f] !== undefined) out[f] = body[f];
  return out as unknown as MappingInput;
}

/** Checks a `PATCH /mappings/…` body: at least one known field. */
export function parseMappingPatch(body: unknown): MappingPatch | BadField {
  if (!isObject(body)) return { field: '(body)', problem: 'must be a JSON object' };
  const unknown = unknownField(body, PATCH_FIELDS);
  if (unknown) return unknown;
  if (Object.keys(body).length === 0) return { field: '(body)', problem: `must change at least one of ${PATCH_FIELDS.join(', ')}` };
  const bad = checkMappingFields(body);
  if (bad) return bad;
  return { ...body } as MappingPatch;
}

/** Checks the `:protocol/:externalPort` of a mapping's path (protocol in any case). */
export function parseMappingKey(protocol: string, externalPort: string): MappingKeyParams | BadField {
  const p = protocol.toUpperCase();
  if (p !== 'TCP' && p !== 'UDP') return { field: 'protocol', problem: 'must be TCP or UDP' };
  const port = queryInteger(externalPort, 'externalPort', 1, 65_535);
  return isBad(port) ? port : { protocol: p, externalPort: port };
}

/** Checks a `POST /capture` body: `{"on": true|false}`. */
export function parseCaptureBody(body: unknown): { readonly on: boolean } | BadField {
  if (!isObject(body)) return { field: '(body)', problem: 'must be a JSON object' };
  const unknown = unknownField(body, ['on']);
  if (unknown) return unknown;
  return typeof body.on === 'boolean' ? { on: body.on } : { field: 'on', problem: 'is required: true or false' };
}
