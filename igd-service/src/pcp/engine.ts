/**
 * The PCP server's protocol logic (RFC 6887), as one function of a request datagram, the
 * address it came from, the epoch time, a policy, and a small mapping-table interface: it
 * resolves to the bytes to send back, or a reason to drop the datagram. It owns the rules
 * the RFC gives a server (ADDRESS_MISMATCH, nonces, PREFER_FAILURE, FILTER, THIRD_PARTY,
 * lifetimes, deletes, which error for what); the table owns the mappings, port choice,
 * persistence and the access rules shared with the other protocols. The table's writes
 * may be asynchronous (a durable store): the answer waits for them, so a success is
 * never sent for a change that is not made.
 *
 * Must not: touch sockets or timers, read a clock, or keep state of its own between
 * calls; every change goes through the table, and a request that ends in an error
 * changes nothing (§7.3: the table is only written once every check has passed).
 */
import {
  PCP_OPCODE, PCP_RESULT, decodePcpRequest, encodePcpError, encodePcpResponse, isShortLifetimeError,
  normalizeAddressText,
} from './wire.js';
import type {
  PcpAssigned, PcpDropReason, PcpFilter, PcpMapRequest, PcpPeerRequest, PcpRequest, PcpResultCode,
} from './wire.js';

/** IANA protocol numbers a PCP mapping can name here. */
export const PCP_PROTOCOL = { TCP: 6, UDP: 17 } as const;

/** Which mapping a MAP request names: the internal side's protocol, address and port. */
export interface PcpMappingKey {
  /** 6 (TCP) or 17 (UDP). */
  readonly protocol: number;
  /** The internal host: the requester, or the THIRD_PARTY address. Dotted decimal for IPv4. */
  readonly internalAddress: string;
  readonly internalPort: number;
}

/** A mapping the table already holds for a key, as the engine needs to see it. */
export interface PcpExistingMapping {
  /**
   * 'pcp': made by PCP (it has a nonce); 'static': configured by the operator (PCP may
   * read it, never change it); 'other': made through another protocol (UPnP, NAT-PMP),
   * which PCP may not take over.
   */
  readonly origin: 'pcp' | 'static' | 'other';
  /** The nonce of the PCP request that made it, 24 lowercase hex digits ('pcp' only). */
  readonly nonce: string | undefined;
  readonly externalAddress: string;
  readonly externalPort: number;
  /** Whole seconds left before it expires. */
  readonly remainingSeconds: number;
  /** FILTER entries in force (empty: every remote peer is allowed). */
  readonly filters: readonly PcpFilter[];
}

/** Why the table refused; each maps to one result code (see `REFUSAL_RESULT`). */
export type PcpTableRefusal =
  | 'not-authorized' // the shared access rules deny it (igd.rules, the gateway's own address)
  | 'no-resources' // no free external port, table full
  | 'user-ex-quota' // the client's per-client limit is reached
  | 'cannot-provide-external' // `exactPort` was asked and that port is not free
  | 'network-failure' // no external address now
  | 'unsupp-protocol';

export type PcpTableResult =
  | { readonly ok: true; readonly externalAddress: string; readonly externalPort: number; readonly lifetimeSeconds: number }
  | PcpTableFailure;

/**
 * A refusal. `remainingSeconds` goes in the error's lifetime field instead of the policy's
 * error lifetime: a table that finds, under its own lock, that the endpoint's mapping has
 * another nonce answers 'not-authorized' with what that mapping has left (§11.3).
 */
export interface PcpTableFailure {
  readonly ok: false;
  readonly reason: PcpTableRefusal;
  readonly remainingSeconds?: number;
}

/** A table answer, now or once a durable write completes. */
export type PcpMaybeAsync<T> = T | Promise<T>;

/** Create or renew an explicit (MAP) mapping. */
export interface PcpTableMapRequest {
  readonly key: PcpMappingKey;
  /** 24 lowercase hex digits. */
  readonly nonce: string;
  /** 0: any port the table likes. */
  readonly suggestedExternalPort: number;
  /** Only `suggestedExternalPort` will do (PREFER_FAILURE, or a renewal keeping its port). */
  readonly exactPort: boolean;
  /** Already within the policy's bounds; the table may grant less, never more. */
  readonly lifetimeSeconds: number;
  /** The whole filter set the mapping has after this request. */
  readonly filters: readonly PcpFilter[];
  /** Who sent the request (differs from `key.internalAddress` with THIRD_PARTY): for limits and rules. */
  readonly requester: string;
}

/** One outbound flow (PEER) and the nonce of the request naming it. */
export interface PcpTablePeerFlow {
  readonly key: PcpMappingKey;
  /** 24 lowercase hex digits. */
  readonly nonce: string;
  readonly remotePeerAddress: string;
  readonly remotePeerPort: number;
  readonly requester: string;
}

/** Create or refresh the outbound mapping of one flow (PEER). */
export interface PcpTablePeerRequest extends PcpTablePeerFlow {
  /** 0: none; else the external port wished for a flow that does not exist yet (a hint). */
  readonly suggestedExternalPort: number;
  readonly lifetimeSeconds: number;
}

/** What ending a PEER mapping found: the flow's external endpoint, undefined when there is no such flow. */
export type PcpTablePeerEnd = { readonly ok: true; readonly flow: PcpAssigned | undefined } | PcpTableFailure;

/**
 * What the engine needs of the mapping service. Reads are synchronous; writes may return
 * a promise (resolved once durable). Nothing may throw or reject for a domain outcome:
 * the table applies its own access rules and per-client limits and answers a refusal
 * (a rejection is answered NO_RESOURCES, as a failure of the moment).
 *
 * The engine checks `find` first and refuses early, but another request may change the
 * endpoint before a write runs: `map` and `unmap` must check the nonce again under the
 * table's own serialisation, and `map` must honour `exactPort`.
 */
export interface PcpMappingTable {
  /** The external IPv4 address now, or undefined when there is none (→ NETWORK_FAILURE). */
  externalAddress(): string | undefined;
  /** The explicit (wildcard remote host) mapping of the internal endpoint `key`, whoever made it. */
  find(key: PcpMappingKey): PcpExistingMapping | undefined;
  /** Creates or renews the PCP mapping of `request.key`. */
  map(request: PcpTableMapRequest): PcpMaybeAsync<PcpTableResult>;
  /** Removes the PCP mapping of `key` made with `nonce`; absent counts as removed. */
  unmap(key: PcpMappingKey, nonce: string): PcpMaybeAsync<{ readonly ok: true } | PcpTableFailure>;
  /**
   * Creates or refreshes a PEER flow mapping; one still held under another nonce is
   * 'not-authorized' with what its hold has left, and unchanged. A table without `peer`
   * and `endPeer` (no access to the NAT's outbound bindings) makes PEER an unsupported opcode.
   */
  peer?(request: PcpTablePeerRequest): PcpMaybeAsync<PcpTableResult>;
  /** Ends the PEER mapping of a flow (lifetime 0): the same nonce rule as `peer`. */
  endPeer?(flow: PcpTablePeerFlow): PcpMaybeAsync<PcpTablePeerEnd>;
}

/** Server settings the RFC leaves to the operator. */
export interface PcpPolicy {
  /** §15: a server SHOULD grant at least 120 s to a MAP that asks for less (not for a delete). */
  readonly minLifetimeSeconds: number;
  /** §15: at most 24 hours is RECOMMENDED. */
  readonly maxLifetimeSeconds: number;
  /** FILTER entries one mapping may hold; more → EXCESSIVE_REMOTE_PEERS. */
  readonly maxFiltersPerMapping: number;
  /**
   * §13.1: THIRD_PARTY off (the RECOMMENDED default for customer premises equipment) is
   * answered UNSUPP_OPTION, as a server without the option would.
   */
  readonly thirdPartyEnabled: boolean;
  /** With THIRD_PARTY on, whether `requester` may manage mappings for `internalAddress` (no → NOT_AUTHORIZED). */
  allowThirdParty(requester: string, internalAddress: string): boolean;
  /** Lifetimes of error responses (§7.4: short-lived and long-lived errors). */
  readonly shortErrorLifetimeSeconds: number;
  readonly longErrorLifetimeSeconds: number;
}

export const PCP_DEFAULT_POLICY: PcpPolicy = {
  minLifetimeSeconds: 120,
  maxLifetimeSeconds: 86400,
  maxFiltersPerMapping: 8,
  thirdPartyEnabled: false,
  allowThirdParty: () => false,
  shortErrorLifetimeSeconds: 30,
  longErrorLifetimeSeconds: 1800,
};

/** The lifetime a static mapping is reported with: all ones, a mapping that does not expire. */
export const PCP_STATIC_LIFETIME = 0xffffffff;
/** External UDP ports never handed out: the PCP ports themselves. */
const RESERVED_UDP_PORTS: ReadonlySet<number> = new Set([5350, 5351]);

/** The inputs of one request besides its bytes. */
export interface PcpContext {
  /** The datagram's source IP (plain or ::ffff:-prefixed dotted decimal, or IPv6 text). */
  readonly sourceAddress: string;
  /** Seconds since the mapping state began (§8.5); the caller resets it when state is lost. */
  readonly epochSeconds: number;
  readonly table: PcpMappingTable;
  readonly policy: PcpPolicy;
}

/** What to do with one datagram: send `bytes` back to its source, or drop and count it. */
export type PcpOutcome =
  | { readonly kind: 'reply'; readonly bytes: Uint8Array; readonly result: PcpResultCode }
  | { readonly kind: 'drop'; readonly reason: PcpDropReason };

const REFUSAL_RESULT: Record<PcpTableRefusal, PcpResultCode> = {
  'not-authorized': PCP_RESULT.NOT_AUTHORIZED,
  'no-resources': PCP_RESULT.NO_RESOURCES,
  'user-ex-quota': PCP_RESULT.USER_EX_QUOTA,
  'cannot-provide-external': PCP_RESULT.CANNOT_PROVIDE_EXTERNAL,
  'network-failure': PCP_RESULT.NETWORK_FAILURE,
  'unsupp-protocol': PCP_RESULT.UNSUPP_PROTOCOL,
};

/**
 * Answers one PCP datagram. `packet` is only read (until the promise settles, so the
 * caller must not reuse its buffer before then); the reply is a new buffer. Never
 * rejects, whatever the bytes; a table that throws or rejects is answered NO_RESOURCES.
 */
export async function answerPcp(packet: Uint8Array, ctx: PcpContext): Promise<PcpOutcome> {
  const decoded = decodePcpRequest(packet);
  if (decoded.kind === 'drop') return decoded;
  if (decoded.kind === 'error') {
    const lifetimeSeconds = errorLifetime(decoded.result, ctx.policy);
    const bytes = encodePcpError(packet, { result: decoded.result, lifetimeSeconds, epochSeconds: ctx.epochSeconds }, decoded.parsed);
    return { kind: 'reply', bytes, result: decoded.result };
  }
  try {
    return await answerRequest(decoded.request, ctx);
  } catch {
    return fail(decoded.request, ctx, PCP_RESULT.NO_RESOURCES);
  }
}

function answerRequest(request: PcpRequest, ctx: PcpContext): PcpOutcome | Promise<PcpOutcome> {
  // §8.2: the client address field must be the address the datagram came from; else a
  // NAT that does not speak PCP sits between client and server.
  const source = normalizeAddressText(ctx.sourceAddress);
  if (request.clientAddress !== source) return fail(request, ctx, PCP_RESULT.ADDRESS_MISMATCH);
  if (request.thirdParty !== undefined) {
    const refusal = checkThirdParty(request.thirdParty, source, ctx.policy);
    if (refusal !== undefined) return fail(request, ctx, refusal);
  }
  if (request.opcode === PCP_OPCODE.ANNOUNCE) return succeed(request, ctx, 0);
  if (request.opcode === PCP_OPCODE.MAP) return answerMap(request, ctx);
  return answerPeer(request, ctx);
}

/**
 * §13.1: THIRD_PARTY is refused as unsupported while the policy has it off; naming the
 * sender itself is malformed; otherwise the policy decides whether this sender may act
 * for that host.
 */
function checkThirdParty(internal: string, source: string, policy: PcpPolicy): PcpResultCode | undefined {
  if (!policy.thirdPartyEnabled) return PCP_RESULT.UNSUPP_OPTION;
  if (internal === source) return PCP_RESULT.MALFORMED_REQUEST;
  if (!policy.allowThirdParty(source, internal)) return PCP_RESULT.NOT_AUTHORIZED;
  return undefined;
}

function keyOf(request: PcpMapRequest | PcpPeerRequest): PcpMappingKey {
  return {
    protocol: request.protocol,
    internalAddress: request.thirdParty ?? request.clientAddress,
    internalPort: request.internalPort,
  };
}

// ---- MAP -------------------------------------------------------------------------------

async function answerMap(request: PcpMapRequest, ctx: PcpContext): Promise<PcpOutcome> {
  const key = keyOf(request);
  if (request.requestedLifetimeSeconds === 0) return deleteMapping(request, key, ctx);
  const externalAddress = ctx.table.externalAddress();
  if (externalAddress === undefined) return fail(request, ctx, PCP_RESULT.NETWORK_FAILURE);
  if (!isSupportedProtocol(request.protocol)) return fail(request, ctx, PCP_RESULT.UNSUPP_PROTOCOL);
  // A mapping of every port of a host is not offered: that is a policy refusal.
  if (request.internalPort === 0) return fail(request, ctx, PCP_RESULT.NOT_AUTHORIZED);

  const existing = ctx.table.find(key);
  if (existing !== undefined) {
    const blocked = checkExisting(request, existing, ctx);
    if (blocked !== undefined) return blocked;
  }
  const filters = mergeFilters(existing?.filters ?? [], request.filters);
  if (filters.length > ctx.policy.maxFiltersPerMapping) return fail(request, ctx, PCP_RESULT.EXCESSIVE_REMOTE_PEERS);
  const suggestion = chooseSuggestion(request, existing, externalAddress);
  if (suggestion === undefined) return fail(request, ctx, PCP_RESULT.CANNOT_PROVIDE_EXTERNAL);

  const result = await ctx.table.map({
    key,
    nonce: nonceHex(request.nonce),
    suggestedExternalPort: suggestion.port,
    exactPort: suggestion.exact,
    lifetimeSeconds: clampLifetime(request.requestedLifetimeSeconds, ctx.policy),
    filters,
    requester: request.clientAddress,
  });
  if (!result.ok) return refuse(request, ctx, result);
  return succeed(request, ctx, result.lifetimeSeconds, result);
}

/**
 * §11.3 with an existing mapping for the same internal address, protocol and port: a
 * static one is reported as it is (lifetime all ones) and left alone; one made by
 * another protocol is not PCP's to change (NOT_AUTHORIZED); a PCP one with another
 * nonce belongs to another client instance and is never taken over (NOT_AUTHORIZED,
 * lifetime = what it has left, so the client knows when to try again). undefined: the
 * request may renew it.
 */
function checkExisting(request: PcpMapRequest, existing: PcpExistingMapping, ctx: PcpContext): PcpOutcome | undefined {
  if (existing.origin === 'static') return succeed(request, ctx, PCP_STATIC_LIFETIME, existing);
  if (existing.origin === 'other') return fail(request, ctx, PCP_RESULT.NOT_AUTHORIZED);
  if (!sameNonce(existing.nonce, request.nonce)) {
    return fail(request, ctx, PCP_RESULT.NOT_AUTHORIZED, existing.remainingSeconds);
  }
  return undefined;
}

/**
 * The external port to ask the table for, and whether only that one will do; undefined
 * when PREFER_FAILURE insists on something that cannot be given (§13.2): another
 * external address than ours, a port other than the one an existing mapping has, or one
 * of the PCP ports themselves. Without PREFER_FAILURE a suggestion is only a hint
 * (§11.3), and an existing mapping keeps its port.
 */
function chooseSuggestion(
  request: PcpMapRequest, existing: PcpExistingMapping | undefined, externalAddress: string,
): { port: number; exact: boolean } | undefined {
  const wanted = request.suggestedExternalPort;
  const reserved = request.protocol === PCP_PROTOCOL.UDP && RESERVED_UDP_PORTS.has(wanted);
  if (request.preferFailure) {
    const otherAddress = request.suggestedExternalAddress !== undefined && request.suggestedExternalAddress !== externalAddress;
    if (otherAddress || reserved || (existing !== undefined && existing.externalPort !== wanted)) return undefined;
    return { port: wanted, exact: true };
  }
  if (existing !== undefined) return { port: existing.externalPort, exact: true };
  return { port: reserved ? 0 : wanted, exact: false };
}

/**
 * §15: lifetime 0 deletes. Nothing to delete is a success; a static mapping or one made
 * through another protocol is not PCP's to delete, and a PCP one only by the nonce that
 * made it (NOT_AUTHORIZED). The reply has lifetime 0 and the deleted mapping's external
 * port and address.
 */
async function deleteMapping(request: PcpMapRequest, key: PcpMappingKey, ctx: PcpContext): Promise<PcpOutcome> {
  const existing = isSupportedProtocol(key.protocol) ? ctx.table.find(key) : undefined;
  if (existing === undefined) return succeed(request, ctx, 0);
  if (existing.origin !== 'pcp') return fail(request, ctx, PCP_RESULT.NOT_AUTHORIZED);
  if (!sameNonce(existing.nonce, request.nonce)) return fail(request, ctx, PCP_RESULT.NOT_AUTHORIZED, existing.remainingSeconds);
  const removed = await ctx.table.unmap(key, nonceHex(request.nonce));
  if (!removed.ok) return refuse(request, ctx, removed);
  return succeed(request, ctx, 0, existing);
}

// ---- PEER ------------------------------------------------------------------------------

/**
 * §12.3: PEER creates or refreshes the outbound mapping of one flow (what its first
 * packet would make, held for the lifetime), or with lifetime 0 ends it (§15). The table
 * keeps the request's nonce with the hold: while the hold lasts, a PEER naming the same
 * flow with another nonce belongs to another client instance and is refused as MAP is
 * (§11.3: NOT_AUTHORIZED, lifetime = what the hold has left), the hold unchanged. The
 * suggested external port is a hint the table honours for a new flow when the NAT's
 * mapping behaviour leaves the port free to choose; the reply carries what was assigned.
 * A suggested external address other than ours is only a hint too: there is one.
 */
async function answerPeer(request: PcpPeerRequest, ctx: PcpContext): Promise<PcpOutcome> {
  const table = ctx.table;
  if (table.peer === undefined || table.endPeer === undefined) return fail(request, ctx, PCP_RESULT.UNSUPP_OPCODE);
  const flow: PcpTablePeerFlow = {
    key: keyOf(request),
    nonce: nonceHex(request.nonce),
    remotePeerAddress: request.remotePeerAddress,
    remotePeerPort: request.remotePeerPort,
    requester: request.clientAddress,
  };
  // As a MAP delete: ending needs no external address (without one there are no flows).
  if (request.requestedLifetimeSeconds === 0) return endPeer(request, flow, table.endPeer.bind(table), ctx);
  if (table.externalAddress() === undefined) return fail(request, ctx, PCP_RESULT.NETWORK_FAILURE);
  if (!isSupportedProtocol(request.protocol)) return fail(request, ctx, PCP_RESULT.UNSUPP_PROTOCOL);
  const result = await table.peer({
    ...flow,
    suggestedExternalPort: request.suggestedExternalPort,
    lifetimeSeconds: clampLifetime(request.requestedLifetimeSeconds, ctx.policy),
  });
  if (!result.ok) return refuse(request, ctx, result);
  return succeed(request, ctx, result.lifetimeSeconds, result);
}

/**
 * §15, lifetime 0 for PEER: the PCP lifetime of the flow's mapping ends, and the flow is
 * left to the NAT's own idle timer like any flow traffic made (removing a flow that may
 * still carry a connection is not PCP's to do). Answered SUCCESS with lifetime 0 and the
 * flow's external port and address; with no such flow (or none held any more) there is
 * nothing to end, which is a success too, so a retransmitted request gets the same answer
 * (§8). Another nonce's live hold: NOT_AUTHORIZED, unchanged.
 */
async function endPeer(
  request: PcpPeerRequest, flow: PcpTablePeerFlow, end: (flow: PcpTablePeerFlow) => PcpMaybeAsync<PcpTablePeerEnd>, ctx: PcpContext,
): Promise<PcpOutcome> {
  const ended = await end(flow);
  if (!ended.ok) return refuse(request, ctx, ended);
  return succeed(request, ctx, 0, ended.flow);
}

// ---- shared ----------------------------------------------------------------------------

function isSupportedProtocol(protocol: number): boolean {
  return protocol === PCP_PROTOCOL.TCP || protocol === PCP_PROTOCOL.UDP;
}

/** Within the policy's bounds; 0 is raised to the minimum (deletes never get here). */
export function clampLifetime(requestedSeconds: number, policy: PcpPolicy): number {
  return Math.min(Math.max(requestedSeconds, policy.minLifetimeSeconds), policy.maxLifetimeSeconds);
}

const HEX_DIGITS = '0123456789abcdef';

/** The nonce as the table keeps it: 24 lowercase hex digits. */
export function nonceHex(nonce: Uint8Array): string {
  let out = '';
  for (let i = 0; i < nonce.length; i++) out += HEX_DIGITS[nonce[i] >> 4] + HEX_DIGITS[nonce[i] & 15];
  return out;
}

/** Whether a stored nonce (lowercase hex) is the one sent, digit by digit. */
function sameNonce(stored: string | undefined, sent: Uint8Array): boolean {
  if (stored === undefined || stored.length !== 2 * sent.length) return false;
  for (let i = 0; i < sent.length; i++) {
    if (stored[2 * i] !== HEX_DIGITS[sent[i] >> 4] || stored[2 * i + 1] !== HEX_DIGITS[sent[i] & 15]) return false;
  }
  return true;
}

function sameFilter(a: PcpFilter, b: PcpFilter): boolean {
  return a.prefixLength === b.prefixLength && a.remotePort === b.remotePort && a.remoteAddress === b.remoteAddress;
}

/**
 * §13.3: FILTER options add to the filters a mapping has; one with prefix length 0
 * removes them all first. A request without FILTER leaves them as they are. Duplicates
 * are kept once.
 */
export function mergeFilters(current: readonly PcpFilter[], sent: readonly PcpFilter[]): readonly PcpFilter[] {
  if (sent.length === 0) return current;
  const merged = sent.some((f) => f.prefixLength === 0) ? [] : [...current];
  for (const f of sent) {
    if (f.prefixLength !== 0 && !merged.some((m) => sameFilter(m, f))) merged.push(f);
  }
  return merged;
}

function errorLifetime(result: PcpResultCode, policy: PcpPolicy): number {
  return isShortLifetimeError(result) ? policy.shortErrorLifetimeSeconds : policy.longErrorLifetimeSeconds;
}

function succeed(request: PcpRequest, ctx: PcpContext, lifetimeSeconds: number, assigned?: PcpAssigned): PcpOutcome {
  const bytes = encodePcpResponse(request, { result: PCP_RESULT.SUCCESS, lifetimeSeconds, epochSeconds: ctx.epochSeconds }, assigned);
  return { kind: 'reply', bytes, result: PCP_RESULT.SUCCESS };
}

/** A table refusal as its result code, with the lifetime the table gave, if any. */
function refuse(request: PcpRequest, ctx: PcpContext, failure: PcpTableFailure): PcpOutcome {
  return fail(request, ctx, REFUSAL_RESULT[failure.reason], failure.remainingSeconds);
}

/**
 * An error for a request that decoded (§8.2): the whole request echoed with the result;
 * `lifetimeSeconds` overrides the policy's error lifetime (a nonce mismatch reports what
 * the mapping has left).
 */
function fail(request: PcpRequest, ctx: PcpContext, result: PcpResultCode, lifetimeSeconds?: number): PcpOutcome {
  const lifetime = lifetimeSeconds ?? errorLifetime(result, ctx.policy);
  const bytes = encodePcpError(request.bytes, { result, lifetimeSeconds: lifetime, epochSeconds: ctx.epochSeconds }, true);
  return { kind: 'reply', bytes, result };
}
