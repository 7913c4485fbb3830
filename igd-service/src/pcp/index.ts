/** PCP (RFC 6887): the wire format and the server's protocol logic (both pure), and the engine's table over the mapping service. */
export * from './wire.js';
export * from './engine.js';
export * from './table.js';
export * from './responder.js';
