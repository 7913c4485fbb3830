/**
 * The outcome of attaching a view: 'ok' or why the bytes were refused. Every reason any
 * view can return is listed once here, so a router can keep one counter per reason.
 * It must not grow a reason without adding it to `WIRE_REASONS`.
 */

export const WIRE_REASONS = [
  'truncated',
  'vlan-unsupported',
  'unsupported-hardware',
  'bad-version',
  'bad-ihl',
  'bad-total-length',
  'bad-udp-length',
  'bad-data-offset',
] as const;

export type WireReason = (typeof WIRE_REASONS)[number];
export type WireStatus = 'ok' | WireReason;

/**
 * Whether `[offset, offset + length)` is a range of whole indices inside `buf`. False for
 * NaN, fractions, negatives and ranges past the end, so a view never reads outside it.
 */
export function isRange(buf: Uint8Array, offset: number, length: number): boolean {
  return Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= buf.length;
}
