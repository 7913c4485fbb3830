/**
 * The protocol-neutral mapping table that UPnP, NAT-PMP and PCP front ends share.
 */
export * from './mapping-service.js';
