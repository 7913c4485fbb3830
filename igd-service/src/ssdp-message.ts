/**
 * SSDP messages (UPnP Device Architecture 1.1, §1), pure: parse a datagram, format NOTIFY /
 * M-SEARCH / search responses byte-exactly, and decide which advertisements answer a search
 * target. No sockets, no timers, no clock (the DATE of a response is passed in).
 *
 * Parsing never throws: a datagram that is too large, binary, without a start line, with an
 * over-long or malformed header line, or an M-SEARCH missing what UDA 1.1 requires, comes
 * back as `{ ok: false, reason }` for the caller to drop and count.
 */

export const SSDP_MULTICAST_ADDRESS = '239.255.255.250';
export const SSDP_PORT = 1900;
/** The HOST header value of every multicast SSDP message. */
export const SSDP_MULTICAST_HOST = `${SSDP_MULTICAST_ADDRESS}:${SSDP_PORT}`;

/** Bounds on what the parser reads. */
export const SSDP_LIMITS = {
  datagramBytes: 8192,
  lineBytes: 1024,
  headerCount: 64,
  /** UDA 1.1 §1.3.2: "MX … greater than or equal to 1 and should be less than 5 inclusive"; more is treated as 5. */
  mxMaxSeconds: 5,
} as const;

export const SSDP_DROP_REASON = {
  empty: 'empty',
  tooLarge: 'too-large',
  binary: 'binary',
  noStartLine: 'no-start-line',
  badStartLine: 'bad-start-line',
  headerTooLong: 'header-too-long',
  tooManyHeaders: 'too-many-headers',
  badHeader: 'bad-header',
  duplicateHeader: 'duplicate-header',
  missingHost: 'missing-host',
  missingMan: 'missing-man',
  badMan: 'bad-man',
  missingSt: 'missing-st',
} as const;
export type SsdpDropReason = (typeof SSDP_DROP_REASON)[keyof typeof SSDP_DROP_REASON];

/** Header names are lowercased; values trimmed. */
export type SsdpHeaders = ReadonlyMap<string, string>;

/** What an M-SEARCH asks. */
export interface SsdpSearch {
  readonly st: string;
  /** MX in seconds as sent (not capped): 'missing', 'invalid' (not an integer ≥ 1) or the number. */
  readonly mx: number | 'missing' | 'invalid';
  /** HOST is the multicast group: a multicast search (UDA 1.1 §1.3.2); otherwise unicast. */
  readonly multicast: boolean;
}

export type SsdpMessage =
  | { readonly kind: 'search'; readonly search: SsdpSearch; readonly headers: SsdpHeaders }
  | { readonly kind: 'notify'; readonly headers: SsdpHeaders }
  | { readonly kind: 'response'; readonly status: number; readonly headers: SsdpHeaders }
  | { readonly kind: 'other'; readonly method: string; readonly headers: SsdpHeaders };

export type SsdpParseResult = { ok: true; message: SsdpMessage } | { ok: false; reason: SsdpDropReason };

const decoder = new TextDecoder('utf-8', { fatal: true });
const REQUEST_LINE = /^([A-Z][A-Z-]*) (\S+) HTTP\/1\.[01]$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MX_DIGITS = /^\d{1,9}$/;

/** A control byte other than TAB, LF, CR: the datagram is not text. */
function isBinary(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return true;
  }
  return false;
}

/** Parses one datagram. The caller keeps ownership of `bytes`; nothing refers to it afterwards. */
export function parseSsdpMessage(bytes: Uint8Array): SsdpParseResult {
  if (bytes.length === 0) return { ok: false, reason: SSDP_DROP_REASON.empty };
  if (bytes.length > SSDP_LIMITS.datagramBytes) return { ok: false, reason: SSDP_DROP_REASON.tooLarge };
  if (isBinary(bytes)) return { ok: false, reason: SSDP_DROP_REASON.binary };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { ok: false, reason: SSDP_DROP_REASON.binary };
  }
  const lines = text.split('\n');
  const startLine = stripCr(lines[0]);
  if (startLine.length === 0) return { ok: false, reason: SSDP_DROP_REASON.noStartLine };
  if (startLine.length > SSDP_LIMITS.lineBytes) return { ok: false, reason: SSDP_DROP_REASON.headerTooLong };

  const headers = new Map<string, string>();
  // Headers run to the first empty line, or to the end of the datagram (some senders omit it).
  for (let i = 1; i < lines.length; i++) {
    const line = stripCr(lines[i]);
    if (line.length === 0) break;
    if (line.length > SSDP_LIMITS.lineBytes) return { ok: false, reason: SSDP_DROP_REASON.headerTooLong };
    if (headers.size >= SSDP_LIMITS.headerCount) return { ok: false, reason: SSDP_DROP_REASON.tooManyHeaders };
    const colon = line.indexOf(':');
    if (colon <= 0) return { ok: false, reason: SSDP_DROP_REASON.badHeader };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { ok: false, reason: SSDP_DROP_REASON.badHeader };
    const key = name.toLowerCase();
    if (headers.has(key)) return { ok: false, reason: SSDP_DROP_REASON.duplicateHeader };
    headers.set(key, line.slice(colon + 1).trim());
  }

  const status = STATUS_LINE.exec(startLine);
  if (status) return { ok: true, message: { kind: 'response', status: Number(status[1]), headers } };
  const request = REQUEST_LINE.exec(startLine);
  if (!request) return { ok: false, reason: SSDP_DROP_REASON.badStartLine };
  const [, method, target] = request;
  if (method === 'NOTIFY') {
    return target === '*' ? { ok: true, message: { kind: 'notify', headers } } : { ok: false, reason: SSDP_DROP_REASON.badStartLine };
  }
  if (method !== 'M-SEARCH') return { ok: true, message: { kind: 'other', method, headers } };
  if (target !== '*') return { ok: false, reason: SSDP_DROP_REASON.badStartLine };

  const host = headers.get('host');
  if (!host) return { ok: false, reason: SSDP_DROP_REASON.missingHost };
  // UDA 1.1 §1.3.2: MAN: "ssdp:discover", quoted. Unquoted is accepted: it cannot mean anything else.
  const man = headers.get('man');
  if (man === undefined) return { ok: false, reason: SSDP_DROP_REASON.missingMan };
  if (man !== '"ssdp:discover"' && man !== 'ssdp:discover') return { ok: false, reason: SSDP_DROP_REASON.badMan };
  const st = headers.get('st');
  if (!st) return { ok: false, reason: SSDP_DROP_REASON.missingSt };
  const mxText = headers.get('mx');
  const mx = mxText === undefined ? 'missing'
    : MX_DIGITS.test(mxText) && Number(mxText) >= 1 ? Number(mxText) : 'invalid';
  const hostLower = host.toLowerCase();
  const multicast = hostLower === SSDP_MULTICAST_HOST || hostLower === SSDP_MULTICAST_ADDRESS;
  return { ok: true, message: { kind: 'search', search: { st, mx, multicast }, headers } };
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

// ---- what is advertised ----------------------------------------------------------------

/** One device of the tree (root first), as SSDP needs it. */
export interface SsdpDevice {
  /** The device's uuid, without `uuid:`. */
  readonly uuid: string;
  /** e.g. urn:schemas-upnp-org:device:InternetGatewayDevice:1 */
  readonly deviceType: string;
  /** The service types of this device (not of its embedded devices). */
  readonly serviceTypes: readonly string[];
}

/** One NOTIFY kind: its NT and USN (UDA 1.1 §1.2.2 table). */
export interface SsdpAdvertisement {
  readonly nt: string;
  readonly usn: string;
}

/**
 * Every advertisement of a device tree, in UDA order: for the root `upnp:rootdevice`; for
 * each device `uuid:X` and its type; then each distinct service type per device.
 * Precondition: `devices[0]` is the root device.
 */
export function ssdpAdvertisements(devices: readonly SsdpDevice[]): SsdpAdvertisement[] {
  const out: SsdpAdvertisement[] = [];
  const seen = new Set<string>();
  const add = (nt: string, usn: string): void => {
    if (seen.has(usn)) return;
    seen.add(usn);
    out.push({ nt, usn });
  };
  if (devices.length > 0) add('upnp:rootdevice', `uuid:${devices[0].uuid}::upnp:rootdevice`);
  for (const d of devices) {
    add(`uuid:${d.uuid}`, `uuid:${d.uuid}`);
    add(d.deviceType, `uuid:${d.uuid}::${d.deviceType}`);
  }
  for (const d of devices) {
    for (const s of d.serviceTypes) add(s, `uuid:${d.uuid}::${s}`);
  }
  return out;
}

const TYPE_URN = /^urn:([^:]+):(device|service):([^:]+):([1-9]\d{0,8})$/;

interface TypeUrn {
  readonly prefix: string;
  readonly version: number;
}

function parseTypeUrn(text: string): TypeUrn | undefined {
  const m = TYPE_URN.exec(text);
  if (!m) return undefined;
  return { prefix: `urn:${m[1]}:${m[2]}:${m[3]}:`, version: Number(m[4]) };
}

/**
 * The (ST, USN) pairs that answer a search target (UDA 1.1 §1.3.3): `ssdp:all` gets every
 * advertisement; `upnp:rootdevice` and `uuid:X` the one that matches; a device or service type
 * URN matches ours of the same name and a version ≥ the asked one, answered with the asked
 * version in ST and USN. No match: empty.
 */
export function ssdpSearchAnswers(st: string, advertisements: readonly SsdpAdvertisement[]): SsdpAdvertisement[] {
  if (st === 'ssdp:all') return [...advertisements];
  const asked = parseTypeUrn(st);
  if (!asked) return advertisements.filter((a) => a.nt === st).map((a) => ({ nt: st, usn: a.usn }));
  const out: SsdpAdvertisement[] = [];
  for (const a of advertisements) {
    const ours = parseTypeUrn(a.nt);
    if (!ours || ours.prefix !== asked.prefix || ours.version < asked.version) continue;
    out.push({ nt: st, usn: `${a.usn.slice(0, a.usn.length - a.nt.length)}${st}` });
  }
  return out;
}

/**
 * The answer delay for a search, ms: multicast in [0, min(MX, 5) s) from `random01` in [0, 1);
 * unicast at once. `undefined` when a multicast search must be dropped (MX missing or invalid:
 * UDA 1.1 §1.3.2 makes MX required for multicast).
 */
export function ssdpResponseDelayMs(search: SsdpSearch, random01: number): number | undefined {
  if (!search.multicast) return 0;
  if (typeof search.mx !== 'number') return undefined;
  const windowMs = Math.min(search.mx, SSDP_LIMITS.mxMaxSeconds) * 1000;
  return Math.floor(Math.min(Math.max(random01, 0), 0.999_999) * windowMs);
}

// ---- formatting ------------------------------------------------------------------------

/** Fields shared by alive NOTIFYs and search responses. */
export interface SsdpAnnounceFields {
  readonly location: string;
  readonly maxAgeSeconds: number;
  readonly server: string;
  readonly bootId: number;
  readonly configId: number;
  /** SEARCHPORT.UPNP.ORG, sent only when the device answers unicast searches on a port other than 1900. */
  readonly searchPort?: number;
}

function lines(...fields: (string | undefined)[]): string {
  return fields.filter((f): f is string => f !== undefined).join('\r\n') + '\r\n\r\n';
}

function searchPortLine(port: number | undefined): string | undefined {
  return port !== undefined && port !== SSDP_PORT ? `SEARCHPORT.UPNP.ORG: ${port}` : undefined;
}

/** NOTIFY ssdp:alive (UDA 1.1 §1.2.2). */
export function formatSsdpAlive(ad: SsdpAdvertisement, f: SsdpAnnounceFields): string {
  return lines(
    'NOTIFY * HTTP/1.1',
    `HOST: ${SSDP_MULTICAST_HOST}`,
    `CACHE-CONTROL: max-age=${f.maxAgeSeconds}`,
    `LOCATION: ${f.location}`,
    `NT: ${ad.nt}`,
    'NTS: ssdp:alive',
    `SERVER: ${f.server}`,
    `USN: ${ad.usn}`,
    `BOOTID.UPNP.ORG: ${f.bootId}`,
    `CONFIGID.UPNP.ORG: ${f.configId}`,
    searchPortLine(f.searchPort),
  );
}

/** NOTIFY ssdp:byebye (UDA 1.1 §1.2.3): no LOCATION, CACHE-CONTROL or SERVER. */
export function formatSsdpByeBye(ad: SsdpAdvertisement, f: Pick<SsdpAnnounceFields, 'bootId' | 'configId'>): string {
  return lines(
    'NOTIFY * HTTP/1.1',
    `HOST: ${SSDP_MULTICAST_HOST}`,
    `NT: ${ad.nt}`,
    'NTS: ssdp:byebye',
    `USN: ${ad.usn}`,
    `BOOTID.UPNP.ORG: ${f.bootId}`,
    `CONFIGID.UPNP.ORG: ${f.configId}`,
  );
}

/** The unicast answer to an M-SEARCH (UDA 1.1 §1.3.3); `answer.nt` is the ST to send. DATE from `nowMs`. */
export function formatSsdpSearchResponse(answer: SsdpAdvertisement, f: SsdpAnnounceFields, nowMs: number): string {
  return lines(
    'HTTP/1.1 200 OK',
    `CACHE-CONTROL: max-age=${f.maxAgeSeconds}`,
    `DATE: ${new Date(nowMs).toUTCString()}`,
    'EXT:',
    `LOCATION: ${f.location}`,
    `SERVER: ${f.server}`,
    `ST: ${answer.nt}`,
    `USN: ${answer.usn}`,
    `BOOTID.UPNP.ORG: ${f.bootId}`,
    `CONFIGID.UPNP.ORG: ${f.configId}`,
    searchPortLine(f.searchPort),
  );
}

/** An M-SEARCH as a control point sends it (for tests and the conformance suite). `host` defaults to the group. */
export function formatSsdpSearch(f: { readonly st: string; readonly mx?: number; readonly host?: string; readonly userAgent?: string }): string {
  return lines(
    'M-SEARCH * HTTP/1.1',
    `HOST: ${f.host ?? SSDP_MULTICAST_HOST}`,
    'MAN: "ssdp:discover"',
    f.mx !== undefined ? `MX: ${f.mx}` : undefined,
    `ST: ${f.st}`,
    f.userAgent !== undefined ? `USER-AGENT: ${f.userAgent}` : undefined,
  );
}
