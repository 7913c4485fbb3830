/**
 * Operational errors of igd-service's own I/O: the state directory (mapping store,
 * device identity) and the SSDP socket. Each is an `Error` subclass with a stable
 * `code` (callers switch on it, never on the message) and the underlying `cause`.
 * Domain outcomes (a conflict, a bad argument) are not errors: they are returned as
 * discriminated unions by the modules that decide them. Nothing here does I/O.
 */

/** Stable codes of the errors below. */
export const IGD_ERROR_CODE = {
  storeCorrupt: 'ERR_STORE_CORRUPT',
  storeIo: 'ERR_STORE_IO',
  storeClosed: 'ERR_STORE_CLOSED',
  storeInvalidRecord: 'ERR_STORE_INVALID_RECORD',
  ssdpConfig: 'ERR_SSDP_CONFIG',
  ssdpSocket: 'ERR_SSDP_SOCKET',
} as const;
export type IgdErrorCode = (typeof IGD_ERROR_CODE)[keyof typeof IGD_ERROR_CODE];

/**
 * A file in the state directory is corrupt (bad checksum before the last record, unparseable
 * snapshot, unknown format version, …). The file is left exactly as found: the daemon stops
 * with this message and an operator decides. `line` is 1-based; 0 when the whole file is at fault.
 */
export class StoreCorruptError extends Error {
  readonly code = IGD_ERROR_CODE.storeCorrupt;
  override readonly name = 'StoreCorruptError';
  readonly file: string;
  readonly line: number;
  readonly reason: string;

  constructor(file: string, line: number, reason: string, options?: { cause?: unknown }) {
    super(`state file ${file}${line > 0 ? ` line ${line}` : ''} is corrupt: ${reason}; it was left untouched`, options);
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/** The state directory or one of its files could not be read, written or synced. */
export class StoreIoError extends Error {
  readonly code = IGD_ERROR_CODE.storeIo;
  override readonly name = 'StoreIoError';
  /** The path the failed operation was on. */
  readonly path: string;
  /** What was being done: 'read', 'write', 'sync', 'rename', 'open', … */
  readonly operation: string;

  constructor(path: string, operation: string, options?: { cause?: unknown }) {
    const detail = errnoCode(options?.cause);
    super(`state directory I/O failed: ${operation} ${path}${detail ? ` (${detail})` : ''}`, options);
    this.path = path;
    this.operation = operation;
  }
}

/** The store was used before `load()`, after `close()`, or after a failed sync stopped it. */
export class StoreClosedError extends Error {
  readonly code = IGD_ERROR_CODE.storeClosed;
  override readonly name = 'StoreClosedError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A mapping handed to the store does not fit its record format (port out of range, …). */
export class StoreInvalidRecordError extends Error {
  readonly code = IGD_ERROR_CODE.storeInvalidRecord;
  override readonly name = 'StoreInvalidRecordError';
  readonly reason: string;

  constructor(reason: string) {
    super(`mapping not stored: ${reason}`);
    this.reason = reason;
  }
}

/** SSDP advertiser options that cannot work (bad address, max-age out of range, …). */
export class SsdpConfigError extends Error {
  readonly code = IGD_ERROR_CODE.ssdpConfig;
  override readonly name = 'SsdpConfigError';
  readonly field: string;

  constructor(field: string, reason: string) {
    super(`ssdp option ${field}: ${reason}`);
    this.field = field;
  }
}

/** The SSDP socket could not be bound or joined to the multicast group. */
export class SsdpSocketError extends Error {
  readonly code = IGD_ERROR_CODE.ssdpSocket;
  override readonly name = 'SsdpSocketError';

  constructor(message: string, options?: { cause?: unknown }) {
    const detail = errnoCode(options?.cause);
    super(`${message}${detail ? ` (${detail})` : ''}`, options);
  }
}

function errnoCode(cause: unknown): string | undefined {
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return cause.code;
  }
  return undefined;
}
