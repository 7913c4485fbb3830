/**
 * The daemon's configuration: one YAML file, validated against a JSON schema at start.
 * A bad file gives one clear line naming the field and the problem (`ConfigError`),
 * never a stack trace. This module only reads and checks; it opens no device and
 * starts nothing.
 */
import { readFile } from 'node:fs/promises';
import { isAlias, isCollection, isScalar, parseDocument, visit } from 'yaml';
import { Ajv, type ErrorObject } from 'ajv';
import { parseIpv4 } from '@openigd/nat-table';
import type { FromSchema } from './schema-type.js';

const ifName = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' } as const;
const nsName = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } as const;
const cidr = { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' } as const;
const ipv4 = { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' } as const;
const mac = { type: 'string', pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' } as const;
const behaviour = { enum: ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] } as const;
const ms = { type: 'integer', minimum: 1000, maximum: 86_400_000 } as const;
/** A token bucket per source address: requests per second earned, and the most held at once. */
const sourceRate = {
  type: 'object', additionalProperties: false, required: ['perSecond', 'burst'],
  properties: { perSecond: { type: 'integer', minimum: 1, maximum: 1_000_000 }, burst: { type: 'integer', minimum: 1, maximum: 1_000_000 } },
} as const;

/** The JSON schema of the YAML file; also the reference of every key (README "Configure"). */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['lan', 'wan', 'local', 'state'],
  properties: {
    lan: {
      type: 'object', additionalProperties: false, required: ['tap', 'address'],
      properties: {
        tap: ifName, netns: nsName, address: cidr, mac,
        mtu: { type: 'integer', minimum: 576, maximum: 9000 },
        dhcp: {
          type: 'object', additionalProperties: false, required: ['range'],
          properties: {
            range: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}-\\d{1,3}(\\.\\d{1,3}){3}$' },
            leaseSeconds: { type: 'integer', minimum: 60, maximum: 31_536_000 },
            dns: { type: 'array', items: ipv4, maxItems: 4 },
            domain: { type: 'string', maxLength: 200 },
          },
        },
      },
    },
    wan: {
      type: 'object', additionalProperties: false, required: ['tap', 'address'],
      properties: {
        tap: ifName, netns: nsName, mac,
        address: { anyOf: [cidr, { const: 'dhcp' }] },
        gateway: ipv4,
        mtu: { type: 'integer', minimum: 576, maximum: 9000 },
      },
    },
    local: {
      type: 'object', additionalProperties: false, required: ['tap'],
      properties: { tap: ifName, netns: nsName, mac },
    },
    nat: {
      type: 'object', additionalProperties: false,
      properties: {
        preset: { enum: ['full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric', 'rfc'] },
        mapping: behaviour,
        filtering: behaviour,
        portAllocation: { enum: ['preserve', 'sequential', 'random'] },
        portRange: {
          type: 'object', additionalProperties: false, required: ['min', 'max'],
          properties: { min: { type: 'integer', minimum: 1, maximum: 65535 }, max: { type: 'integer', minimum: 1, maximum: 65535 } },
        },
        hairpinning: { type: 'boolean' },
        capacity: { type: 'integer', minimum: 16, maximum: 16_777_216 },
        maxFlowsPerClient: { type: 'integer', minimum: 1, maximum: 16_777_216 },
        timeouts: {
          type: 'object', additionalProperties: false,
          properties: { udpMs: ms, tcpEstablishedMs: ms, tcpTransitoryMs: ms, icmpMs: ms },
        },
      },
    },
    offload: { type: 'boolean' },
    state: { type: 'string', minLength: 1 },
    admin: {
      type: 'object', additionalProperties: false, required: ['socket'],
      properties: {
        socket: { type: 'string', minLength: 1 },
        listen: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}:\\d{1,5}$' },
        token: { type: 'string', pattern: '^[\\x21-\\x7e]{16,256}$' },
        tokenFile: { type: 'string', minLength: 1 },
      },
    },
    capture: {
      type: 'object', additionalProperties: false, required: ['dir'],
      properties: { dir: { type: 'string', minLength: 1 } },
    },
    igd: {
      type: 'object', additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        version: { enum: [1, 2], description: '1: InternetGatewayDevice:1 (the default); 2: InternetGatewayDevice:2, IGD:1 to Microsoft clients' },
        httpPort: { type: 'integer', minimum: 1, maximum: 65535 },
        tcp: {
          enum: ['userspace', 'kernel'],
          description: "who terminates the LAN's TCP to the IGD's HTTP port: 'userspace' (the default) the router's own TCP endpoint, with no hop through the local port; 'kernel' the local port's kernel TCP stack",
        },
        friendlyName: { type: 'string', maxLength: 64 },
        notifyIntervalSeconds: { type: 'integer', minimum: 10, maximum: 86_400 },
        maxMappings: { type: 'integer', minimum: 1, maximum: 65_535 },
        maxMappingsPerClient: {
          type: 'integer', minimum: 1, maximum: 65_535,
          description: 'most mappings one internal client may hold, through every protocol together (B3); absent: only maxMappings',
        },
        secureMode: { type: 'boolean', description: "clients may map only their own address (miniupnpd's secure_mode); off by default" },
        rules: {
          type: 'array', maxItems: 256, items: { type: 'string', maxLength: 200 },
          description: "permission rules, the first match decides (miniupnpd's `allow|deny ext-ports client/len int-ports`)",
        },
        defaultAction: { enum: ['allow', 'deny'], description: 'when no rule matches; default allow' },
        requestRate: { ...sourceRate, description: 'HTTP requests (SOAP, GENA, descriptions) per LAN source address, 503 past it; default 500/s, burst 5000 (a client listing a full table of 4096 mappings one GetGenericPortMappingEntry at a time must get through)' },
      },
    },
    natpmp: {
      type: 'object', additionalProperties: false,
      description: "NAT-PMP (RFC 6886) on the LAN address's UDP 5351, over the IGD's mapping table: on by default, only with the IGD",
      properties: {
        enabled: { type: 'boolean' },
        requestRate: { ...sourceRate, description: 'NAT-PMP and PCP requests per LAN source address, dropped and counted past it; default 50/s, burst 100' },
      },
    },
    pcp: {
      type: 'object', additionalProperties: false,
      description: 'PCP (RFC 6887) on the same socket as NAT-PMP (version byte 2): on by default, only with NAT-PMP',
      properties: {
        enabled: { type: 'boolean' },
        allowThirdParty: {
          type: 'boolean',
          description: "a LAN host may ask for mappings of another LAN host (igd.rules apply to that host); default false, the RFC's advice for home gateways",
        },
      },
    },
    log: {
      type: 'object', additionalProperties: false,
      properties: { level: { enum: ['debug', 'info', 'warn', 'error'] } },
    },
  },
} as const;

/** The config file's data as the schema accepts it: the shape, declared once, in CONFIG_SCHEMA. */
export type RawConfig = FromSchema<typeof CONFIG_SCHEMA>;
type Section<K extends keyof RawConfig> = NonNullable<RawConfig[K]>;
/** `T` with the keys `K`, which checkConfig fills with defaults, no longer optional. */
type Filled<T, K extends keyof T> = Omit<T, K> & { readonly [P in K]-?: NonNullable<T[P]> };

export interface Cidr { readonly address: string; readonly prefixLength: number }

/** One permission rule: which internal clients may map which external and internal ports. */
export interface IgdRule {
  readonly action: 'allow' | 'deny';
  readonly externalPorts: { readonly minimum: number; readonly maximum: number };
  readonly clients: string;
  readonly internalPorts: { readonly minimum: number; readonly maximum: number };
}

/** `allow 1024-65535 192.168.1.0/24 1024-65535` (miniupnpd's syntax; a single port or address is allowed). */
export function parseIgdRule(text: string, field: string): IgdRule {
  const m = /^\s*(allow|deny)\s+(\d{1,5})(?:-(\d{1,5}))?\s+(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?\s+(\d{1,5})(?:-(\d{1,5}))?\s*$/.exec(text);
  if (!m) throw new ConfigError(field, `"${text}" is not "allow|deny EXT-PORTS ADDRESS[/LEN] INT-PORTS"`);
  const range = (lo: string, hi: string | undefined, what: string) => {
    const minimum = Number(lo), maximum = Number(hi ?? lo);
    if (minimum < 0 || maximum > 65535 || minimum > maximum) throw new ConfigError(field, `${what} ports ${lo}-${hi ?? lo} are not a range within 0-65535`);
    return { minimum, maximum };
  };
  if (parseDottedQuad(m[4]!) === null) throw new ConfigError(field, `${m[4]} is not an IPv4 address`);
  const len = m[5] === undefined ? 32 : Number(m[5]);
  if (len > 32) throw new ConfigError(field, `/${m[5]} is not a prefix length`);
  return {
    action: m[1] as 'allow' | 'deny', externalPorts: range(m[2]!, m[3], 'external'), clients: `${m[4]}/${len}`,
    internalPorts: range(m[6]!, m[7], 'internal'),
  };
}

/**
 * The admin API: its Unix socket, and optionally a TCP listener (`listen`) that needs
 * `Authorization: Bearer <token>`, the token given inline or in a file (read at start).
 */
export type AdminConfig = Omit<Section<'admin'>, 'listen'> & { readonly listen?: { readonly host: string; readonly port: number } };

/**
 * The checked config: the file's data (RawConfig) with defaults filled in and the
 * values that have parts split (addresses with prefix, the DHCP range, the admin
 * listener, the IGD rules). Every key means what the schema's description says.
 */
export interface GatewayConfig {
  readonly lan: Filled<Omit<Section<'lan'>, 'address' | 'dhcp'>, 'mtu'> & { readonly address: Cidr; readonly dhcp?: LanDhcpConfig };
  readonly wan: Filled<Omit<Section<'wan'>, 'address'>, 'mtu'> & { readonly address: Cidr | 'dhcp' };
  readonly local: Section<'local'>;
  /** The `nat:` section as written; nat-table's resolver merges it with the preset. */
  readonly nat: Section<'nat'>;
  readonly offload: boolean;
  readonly state: string;
  readonly admin?: AdminConfig;
  readonly capture?: Section<'capture'>;
  readonly igd: Filled<Omit<Section<'igd'>, 'rules'>, Exclude<keyof Section<'igd'>, 'rules' | 'maxMappingsPerClient'>>
    & { readonly rules: readonly IgdRule[] };
  readonly natpmp: Filled<Section<'natpmp'>, 'enabled' | 'requestRate'>;
  readonly pcp: Filled<Section<'pcp'>, 'enabled' | 'allowThirdParty'>;
  readonly log: Filled<Section<'log'>, 'level'>;
}

/** `lan.dhcp` checked: the range split in two, lease time and DNS servers filled in. */
export type LanDhcpConfig = Filled<Omit<NonNullable<Section<'lan'>['dhcp']>, 'range'>, 'leaseSeconds' | 'dns'>
  & { readonly rangeStart: string; readonly rangeEnd: string };

/** A configuration that cannot be used. `message` is one line: `<file>: <field>: <problem>`. */
export class ConfigError extends Error {
  readonly code = 'ERR_OPENIGD_CONFIG';
  constructor(readonly field: string, readonly problem: string, options?: { cause?: unknown }) {
    super(`${field}: ${problem}`, options);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: false, strict: true });
const validate = ajv.compile<RawConfig>(CONFIG_SCHEMA);

function fieldOf(e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, '').replaceAll('/', '.');
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return path ? `${path}.${missing}` : missing;
  }
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return path ? `${path}.${extra}` : extra;
  }
  return path || '(top level)';
}

function problemOf(e: ErrorObject): string {
  switch (e.keyword) {
    case 'required': return 'is required';
    case 'additionalProperties': return 'is not a known key';
    case 'pattern': return `has the wrong form (${describePattern(e.schemaPath)})`;
    case 'enum': return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'anyOf': return 'must be an address with prefix (a.b.c.d/n) or "dhcp"';
    default: return e.message ?? 'is invalid';
  }
}

function describePattern(schemaPath: string): string {
  if (schemaPath.includes('range')) return 'expected a.b.c.d-a.b.c.d';
  if (schemaPath.includes('listen')) return 'expected a.b.c.d:port, e.g. 127.0.0.1:9108';
  if (schemaPath.includes('token')) return 'expected 16-256 printable characters without spaces';
  if (/address|cidr/.test(schemaPath)) return 'expected a.b.c.d/n';
  if (schemaPath.includes('mac')) return 'expected aa:bb:cc:dd:ee:ff';
  if (/tap|netns/.test(schemaPath)) return 'expected an interface name of 1-15 letters, digits, _ . -';
  return 'expected a.b.c.d';
}

/** Parses a dotted quad strictly (nat-table's parser); null when malformed. */
export const parseDottedQuad = parseIpv4;

function parseCidr(s: string, field: string): Cidr {
  const [address, len] = s.split('/') as [string, string];
  const prefixLength = Number(len);
  if (parseDottedQuad(address) === null) throw new ConfigError(field, `${address} is not an IPv4 address`);
  if (!(prefixLength >= 1 && prefixLength <= 30)) throw new ConfigError(field, `prefix length must be 1-30, got /${len}`);
  return { address, prefixLength };
}

function sameSubnet(a: number, b: number, prefixLength: number): boolean {
  const shift = 32 - prefixLength;
  return Math.floor(a / 2 ** shift) === Math.floor(b / 2 ** shift);
}

function inSubnet(a: number, cidr: Cidr): boolean {
  return sameSubnet(a, parseDottedQuad(cidr.address)!, cidr.prefixLength);
}

/**
 * `admin.listen` and its token. The listener must never be reachable from the WAN or the
 * LAN: a wildcard, an address in the LAN's or the WAN's subnet (the gateway's LAN address
 * lives on the local TAP's kernel side, where LAN hosts reach it) are refused. Loopback,
 * or another address of the machine, is the operator's choice.
 */
function checkAdmin(raw: Section<'admin'>, lan: Cidr, wan: Cidr | 'dhcp'): AdminConfig {
  if (raw.token !== undefined && raw.tokenFile !== undefined) throw new ConfigError('admin.token', 'give admin.token or admin.tokenFile, not both');
  if (raw.listen === undefined) {
    if (raw.token !== undefined || raw.tokenFile !== undefined) throw new ConfigError('admin.listen', 'is required with admin.token or admin.tokenFile (the Unix socket needs no token)');
    return { socket: raw.socket };
  }
  const [host, portText] = raw.listen.split(':') as [string, string];
  const addr = parseDottedQuad(host);
  const port = Number(portText);
  if (addr === null) throw new ConfigError('admin.listen', `${host} is not an IPv4 address`);
  if (!(port >= 1 && port <= 65535)) throw new ConfigError('admin.listen', `port ${portText} is not 1-65535`);
  if (addr === 0 || addr === 0xffffffff) throw new ConfigError('admin.listen', `${host} would listen on every address, the LAN's too: use 127.0.0.1`);
  if (inSubnet(addr, lan)) throw new ConfigError('admin.listen', `${host} is in the LAN ${lan.address}/${lan.prefixLength}, whose hosts would reach it: use 127.0.0.1`);
  if (wan !== 'dhcp' && inSubnet(addr, wan)) throw new ConfigError('admin.listen', `${host} is in the WAN ${wan.address}/${wan.prefixLength}: the admin API never listens on the WAN`);
  if (raw.token === undefined && raw.tokenFile === undefined) throw new ConfigError('admin.token', 'admin.listen needs a bearer token: admin.token or admin.tokenFile');
  return { socket: raw.socket, listen: { host, port }, ...(raw.token !== undefined ? { token: raw.token } : {}), ...(raw.tokenFile !== undefined ? { tokenFile: raw.tokenFile } : {}) };
}

/**
 * The admin TCP listener's token: `admin.token`, or the first line of `admin.tokenFile`
 * (read when the daemon starts, so a rotated file is read on restart). Same rules for both:
 * 16-256 printable characters without spaces.
 */
export async function readAdminToken(admin: AdminConfig): Promise<string | null> {
  if (admin.listen === undefined) return null;
  if (admin.token !== undefined) return admin.token;
  let text: string;
  try {
    text = await readFile(admin.tokenFile!, 'utf8');
  } catch (cause) {
    throw new ConfigError('admin.tokenFile', `${admin.tokenFile} cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
  const token = text.split('\n')[0]!.trim();
  if (!/^[\x21-\x7e]{16,256}$/.test(token)) throw new ConfigError('admin.tokenFile', `${admin.tokenFile} must hold a token of 16-256 printable characters without spaces`);
  return token;
}

/**
 * Validates an already-parsed document (the YAML's data) and fills in defaults.
 * Throws `ConfigError` on the first problem, naming the field.
 */
export function checkConfig(data: unknown): GatewayConfig {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError('(top level)', 'must be a mapping of keys (lan, wan, local, state, ...)');
  }
  if (!validate(data)) {
    const e = validate.errors![0]!;
    throw new ConfigError(fieldOf(e), problemOf(e));
  }
  const raw: RawConfig = data;
  const lanAddress = parseCidr(raw.lan.address, 'lan.address');
  const lanNum = parseDottedQuad(lanAddress.address)!;
  let dhcp: GatewayConfig['lan']['dhcp'];
  if (raw.lan.dhcp) {
    const [rangeStart, rangeEnd] = raw.lan.dhcp.range.split('-') as [string, string];
    const a = parseDottedQuad(rangeStart);
    const b = parseDottedQuad(rangeEnd);
    if (a === null || b === null) throw new ConfigError('lan.dhcp.range', 'holds an invalid address');
    if (a > b) throw new ConfigError('lan.dhcp.range', 'start is after end');
    if (!sameSubnet(a, lanNum, lanAddress.prefixLength) || !sameSubnet(b, lanNum, lanAddress.prefixLength)) {
      throw new ConfigError('lan.dhcp.range', `must lie inside the LAN ${raw.lan.address}`);
    }
    if (lanNum >= a && lanNum <= b) throw new ConfigError('lan.dhcp.range', `must not contain the gateway's own ${lanAddress.address}`);
    for (const [i, d] of (raw.lan.dhcp.dns ?? []).entries()) {
      if (parseDottedQuad(d) === null) throw new ConfigError(`lan.dhcp.dns.${i}`, `${d} is not an IPv4 address`);
    }
    dhcp = {
      rangeStart, rangeEnd, leaseSeconds: raw.lan.dhcp.leaseSeconds ?? 86_400,
      dns: raw.lan.dhcp.dns ?? [lanAddress.address], ...(raw.lan.dhcp.domain ? { domain: raw.lan.dhcp.domain } : {}),
    };
  }
  let wanAddress: Cidr | 'dhcp' = 'dhcp';
  if (raw.wan.address !== 'dhcp') {
    wanAddress = parseCidr(raw.wan.address, 'wan.address');
    if (raw.wan.gateway !== undefined) {
      const g = parseDottedQuad(raw.wan.gateway);
      if (g === null) throw new ConfigError('wan.gateway', `${raw.wan.gateway} is not an IPv4 address`);
      if (!sameSubnet(g, parseDottedQuad(wanAddress.address)!, wanAddress.prefixLength)) {
        throw new ConfigError('wan.gateway', `must lie inside the WAN ${raw.wan.address}`);
      }
    }
    if (sameSubnet(parseDottedQuad(wanAddress.address)!, lanNum, Math.min(wanAddress.prefixLength, lanAddress.prefixLength))) {
      throw new ConfigError('wan.address', 'overlaps the LAN subnet');
    }
  }
  const taps = [raw.lan.tap, raw.wan.tap, raw.local.tap];
  if (new Set(taps).size !== 3) throw new ConfigError('local.tap', 'lan.tap, wan.tap and local.tap must be three different names');
  const pr = raw.nat?.portRange;
  if (pr && pr.min > pr.max) throw new ConfigError('nat.portRange', 'min is greater than max');
  return {
    lan: {
      tap: raw.lan.tap, address: lanAddress, mtu: raw.lan.mtu ?? 1500,
      ...(raw.lan.netns ? { netns: raw.lan.netns } : {}), ...(raw.lan.mac ? { mac: raw.lan.mac } : {}),
      ...(dhcp ? { dhcp } : {}),
    },
    wan: {
      tap: raw.wan.tap, address: wanAddress, mtu: raw.wan.mtu ?? 1500,
      ...(raw.wan.netns ? { netns: raw.wan.netns } : {}), ...(raw.wan.mac ? { mac: raw.wan.mac } : {}),
      ...(raw.wan.gateway ? { gateway: raw.wan.gateway } : {}),
    },
    local: { tap: raw.local.tap, ...(raw.local.netns ? { netns: raw.local.netns } : {}), ...(raw.local.mac ? { mac: raw.local.mac } : {}) },
    nat: raw.nat ?? { preset: 'rfc' },
    offload: raw.offload ?? true,
    state: raw.state,
    ...(raw.admin ? { admin: checkAdmin(raw.admin, lanAddress, wanAddress) } : {}),
    ...(raw.capture ? { capture: raw.capture } : {}),
    igd: {
      enabled: raw.igd?.enabled ?? true, version: raw.igd?.version ?? 1, httpPort: raw.igd?.httpPort ?? 5000,
      tcp: raw.igd?.tcp ?? 'userspace',
      friendlyName: raw.igd?.friendlyName ?? 'OpenIGD', notifyIntervalSeconds: raw.igd?.notifyIntervalSeconds ?? 600,
      maxMappings: raw.igd?.maxMappings ?? 4096, secureMode: raw.igd?.secureMode ?? false,
      ...(raw.igd?.maxMappingsPerClient !== undefined ? { maxMappingsPerClient: raw.igd.maxMappingsPerClient } : {}),
      rules: (raw.igd?.rules ?? []).map((r, i) => parseIgdRule(r, `igd.rules[${i}]`)),
      defaultAction: raw.igd?.defaultAction ?? 'allow',
      requestRate: raw.igd?.requestRate ?? { perSecond: 500, burst: 5000 },
    },
    natpmp: { enabled: raw.natpmp?.enabled ?? true, requestRate: raw.natpmp?.requestRate ?? { perSecond: 50, burst: 100 } },
    pcp: { enabled: raw.pcp?.enabled ?? true, allowThirdParty: raw.pcp?.allowThirdParty ?? false },
    log: { level: raw.log?.level ?? 'info' },
  };
}

/** Parses YAML text (errors name the line) and checks it. */
export function parseConfig(text: string, fileName = 'config'): GatewayConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = text.slice(0, e.pos[0]).split('\n').length;
    throw new ConfigError(`${fileName} line ${line}`, `YAML: ${e.message.split('\n')[0]}`);
  }
  // A key that is not plain text or a number (`? [a]`, `{a: 1}: x`, `!!binary …: x`, or an
  // alias of one) has no place in the config; left alone, the yaml package would make it a
  // string and print a process warning.
  visit(doc, {
    Pair: (_, pair) => {
      const key: unknown = pair.key;
      const node = isAlias(key) ? key.resolve(doc) : key;
      const plain = isScalar(node) ? node.value === null || typeof node.value !== 'object' : !isCollection(node);
      if (plain) return;
      const line = text.slice(0, (key as { range?: number[] } | undefined)?.range?.[0] ?? 0).split('\n').length;
      throw new ConfigError(`${fileName} line ${line}`, 'a key must be plain text, not a mapping, a list or binary data');
    },
  });
  let data: unknown;
  try {
    // Resolving aliases can fail although the text parsed: an alias with no anchor before
    // it, or more alias expansions than the yaml package allows (a billion-laughs file).
    data = doc.toJS();
  } catch (e) {
    throw new ConfigError(fileName, `YAML: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`, { cause: e });
  }
  return checkConfig(data);
}

/** Reads and checks a config file. */
export async function loadConfig(path: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(path, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
  return parseConfig(text, path);
}
