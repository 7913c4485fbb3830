/**
 * PCP (RFC 6887): the wire format, the server's protocol logic and the unsolicited
 * mapping updates (all pure), and the engine's table over the mapping service.
 */
export * from './wire.js';
export * from './engine.js';
export * from './table.js';
export * from './responder.js';
export * from './updates.js';
