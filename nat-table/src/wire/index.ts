/**
 * Wire views over Uint8Array frames, one file per protocol, and their Reprs. This file
 * only re-exports: it must not hold logic.
 */
export * from './status.js';
export * from './addr.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export { L4Packet } from './l4.js';
export * from './udp.js';
export * from './tcp.js';
export * from './icmp.js';
export * from './fragment.js';
