/**
 * The device's identity in the state directory (`identity.json`): a root uuid created once
 * with crypto.randomUUID and kept forever (a UDN must be stable across restarts), and the
 * SSDP bookkeeping of UDA 1.1 §1.2: BOOTID.UPNP.ORG increases at every start, and
 * CONFIGID.UPNP.ORG changes when the description documents do (the caller hands in a
 * fingerprint of them). Embedded devices get UDNs derived from the root uuid (UUID v5), so
 * only one uuid is stored.
 *
 * The file is written atomically (temp, fsync, rename, fsync dir) before the identity is
 * returned, so a BOOTID is never reused. A corrupt file rejects with StoreCorruptError and
 * is never overwritten: a new uuid would silently make every control point see a new device.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreCorruptError, StoreIoError } from './errors.js';
import { TEMP_SUFFIX, ensureDirectoryDurably, replaceFileDurably } from './durable-file.js';

export const DEVICE_IDENTITY_FILE = 'identity.json';
export const DEVICE_IDENTITY_FORMAT = { format: 'openigd-identity', version: 1 } as const;

/** UDA 1.1: BOOTID.UPNP.ORG is a non-negative 31-bit integer. */
export const BOOT_ID_MAX = 0x7fff_ffff;
/** UDA 1.1: CONFIGID.UPNP.ORG values 0..16777215; higher values are reserved. */
export const CONFIG_ID_MAX = 0xff_ffff;

export interface DeviceIdentity {
  /** The root device's uuid, without the `uuid:` prefix (lowercase 8-4-4-4-12 hex). */
  readonly rootUuid: string;
  /** BOOTID.UPNP.ORG of this run. */
  readonly bootId: number;
  /** CONFIGID.UPNP.ORG of this run. */
  readonly configId: number;
  /** True when this start created the identity. */
  readonly created: boolean;
  /**
   * Why the raised BOOTID could not be written (a read-only or full state directory), or
   * undefined when it is on disk. The identity is used all the same, so that the gateway
   * starts; the next start may then announce the same BOOTID again.
   */
  readonly notStored?: StoreIoError;
}

export interface DeviceIdentityOptions {
  /** The state directory; created (with parents) if missing. */
  readonly directory: string;
  /**
   * A digest of what the description documents say (device tree, services, SCPDs). When it
   * differs from the stored one, CONFIGID increases. Omitted: CONFIGID is kept as stored.
   */
  readonly configFingerprint?: string;
}

export interface DeviceIdentityComponents {
  /** Source of the root uuid on first start. Default crypto.randomUUID. */
  readonly randomUuid?: () => string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface StoredIdentity {
  readonly rootUuid: string;
  readonly bootId: number;
  readonly configId: number;
  readonly configFingerprint: string;
}

function checkStored(v: unknown): { ok: true; identity: StoredIdentity } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  if (o.format !== DEVICE_IDENTITY_FORMAT.format) return { ok: false, reason: `format is ${JSON.stringify(o.format)}` };
  if (o.version !== DEVICE_IDENTITY_FORMAT.version) {
    return { ok: false, reason: `format version ${JSON.stringify(o.version)}; this build reads version ${DEVICE_IDENTITY_FORMAT.version}` };
  }
  if (typeof o.rootUuid !== 'string' || !UUID.test(o.rootUuid)) return { ok: false, reason: 'rootUuid is not a lowercase uuid' };
  if (!Number.isInteger(o.bootId) || (o.bootId as number) < 0 || (o.bootId as number) > BOOT_ID_MAX) {
    return { ok: false, reason: 'bootId is not a 31-bit integer' };
  }
  if (!Number.isInteger(o.configId) || (o.configId as number) < 0 || (o.configId as number) > CONFIG_ID_MAX) {
    return { ok: false, reason: 'configId is not in 0..16777215' };
  }
  if (typeof o.configFingerprint !== 'string') return { ok: false, reason: 'configFingerprint is not a string' };
  return {
    ok: true,
    identity: {
      rootUuid: o.rootUuid, bootId: o.bootId as number, configId: o.configId as number,
      configFingerprint: o.configFingerprint,
    },
  };
}

/** Next value of a counter that must increase, wrapping from max to 1 (0 is kept for "never started"). */
function increase(value: number, max: number): number {
  return value >= max ? 1 : value + 1;
}

/**
 * Reads (or creates) the identity, increments BOOTID, adjusts CONFIGID, and writes it back
 * durably before resolving. Call once per start, before the first SSDP message.
 * Rejects StoreCorruptError (file left as found) or StoreIoError; when an identity is
 * stored but cannot be rewritten, resolves with it and `notStored` set.
 */
export async function startDeviceIdentity(
  options: DeviceIdentityOptions,
  components: DeviceIdentityComponents = {},
): Promise<DeviceIdentity> {
  const file = join(options.directory, DEVICE_IDENTITY_FILE);
  await ensureDirectoryDurably(options.directory);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreIoError(file, 'read', { cause });
  }
  let stored: StoredIdentity | undefined;
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new StoreCorruptError(file, 0, 'unparseable JSON', { cause });
    }
    const checked = checkStored(parsed);
    if (!checked.ok) throw new StoreCorruptError(file, 0, checked.reason);
    stored = checked.identity;
  }
  await unlink(file + TEMP_SUFFIX).catch(() => undefined);

  const fingerprint = options.configFingerprint ?? stored?.configFingerprint ?? '';
  let rootUuid: string;
  if (stored) {
    rootUuid = stored.rootUuid;
  } else {
    rootUuid = (components.randomUuid ?? randomUUID)().toLowerCase();
    if (!UUID.test(rootUuid)) throw new TypeError(`randomUuid returned ${JSON.stringify(rootUuid)}, not a uuid`);
  }
  const next: StoredIdentity = {
    rootUuid,
    bootId: stored ? increase(stored.bootId, BOOT_ID_MAX) : 1,
    configId: !stored ? 1 : fingerprint === stored.configFingerprint ? stored.configId : increase(stored.configId, CONFIG_ID_MAX),
    configFingerprint: fingerprint,
  };
  const body = JSON.stringify({ ...DEVICE_IDENTITY_FORMAT, ...next }, null, 2) + '\n';
  let notStored: StoreIoError | undefined;
  try {
    await replaceFileDurably(options.directory, DEVICE_IDENTITY_FILE, new TextEncoder().encode(body));
  } catch (error) {
    // A new identity that is not on disk would change at every start: only a stored one may go on.
    if (!stored || !(error instanceof StoreIoError)) throw error;
    notStored = error;
  }
  return { rootUuid: next.rootUuid, bootId: next.bootId, configId: next.configId, created: !stored, ...(notStored ? { notStored } : {}) };
}

/**
 * A stable uuid for an embedded device, derived from the root uuid and a name unique within
 * the device (e.g. 'WANDevice:1'): UUID version 5 (RFC 4122 §4.3, SHA-1) in the namespace of
 * the root uuid. Precondition: rootUuid is a uuid (8-4-4-4-12 hex).
 */
export function deriveDeviceUuid(rootUuid: string, name: string): string {
  const namespace = Buffer.from(rootUuid.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
