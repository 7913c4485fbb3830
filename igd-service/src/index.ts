/**
 * @openigd/igd-service — the UPnP IGD control plane.
 */
export {};
export * from './types.js';
export * from './errors.js';
export * from './store.js';
export * from './device-identity.js';
export * from './ssdp-message.js';
export * from './ssdp.js';
