/**
 * @openigd/nat-table — the pure NAT engine. No I/O, no timers, no clock:
 * every call that changes state takes `nowMs`.
 */
export * from './wire/index.js';
export * from './table/index.js';
export * from './translate.js';
