/**
 * NAT-PMP (RFC 6886): the wire codec, the engine over the mapping service, and the UDP server.
 */
export * from './natpmp-wire.js';
export * from './natpmp-engine.js';
export * from './natpmp-server.js';
