/**
 * @openigd/igd-service — the UPnP IGD control plane.
 */
export {};
export * from './types.js';
