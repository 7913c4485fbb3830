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
export * from './declaration.js';
export * from './action-arguments.js';
export * from './faults.js';
export * from './scpd.js';
export * from './device-info.js';
export * from './description.js';
export * from './soap.js';
export * from './mapping-rules.js';
export * from './evented-state.js';
export * from './mapping/index.js';
export * from './natpmp/index.js';
export * from './igd.js';
export * from './port-listing.js';
export * from './igd2.js';
export * from './query-state-variable.js';
export * from './actions.js';
export * from './gena.js';
export * from './memory-backend.js';
export * from './http-server.js';
export * from './pcp/index.js';
export { replaceFileDurably, ensureDirectoryDurably } from './durable-file.js';
