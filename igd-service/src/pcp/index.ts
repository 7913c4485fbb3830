/** PCP (RFC 6887): the wire format and the server's protocol logic, both pure. */
export * from './wire.js';
export * from './engine.js';
