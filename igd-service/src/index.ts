/**
 * @openigd/igd-service: the UPnP IGD control plane. This entry point holds what the
 * gateway (its composition root), the benchmarks and the end-to-end tests use, and no
 * more; test doubles are in `@openigd/igd-service/testing`.
 */
// The seam to the data plane and the store, and every error the package throws.
export * from './types.js';
export * from './errors.js';
// Durable state: the mapping store, the device identity, the atomic file replace.
export { FileMappingStore, type MappingStoreStats } from './store.js';
export { startDeviceIdentity } from './device-identity.js';
export { replaceFileDurably, ensureDirectoryDurably } from './durable-file.js';
// The mapping table shared by UPnP, NAT-PMP and PCP.
export { MappingService, remainingLeaseSeconds, type MappingChange } from './mapping/index.js';
// UPnP: the service, its documents, SOAP, GENA, SSDP, the HTTP server.
export { Igd, type IgdStats } from './igd.js';
export {
  IGD_SERVICE_KEYS, IGD_SERVICES_BY_VERSION, findActionDeclaration, serviceDeclaration,
  type IgdServiceKey, type IgdVersion, type ServiceDeclaration,
} from './declaration.js';
export type { ActionFailure } from './faults.js';
export { buildRootDescription, igdAdvertisedDevices } from './description.js';
export { buildScpd } from './scpd.js';
export { resolveDeviceInfo } from './device-info.js';
export { escapeXmlText } from './soap.js';
export type { GenaStats } from './gena.js';
export { startIgdHttpServer, type AcceptedConnection, type IgdActionRecord } from './http-server.js';
export { SSDP_DROP_REASON, type SsdpDropReason } from './ssdp-message.js';
export { SsdpAdvertiser, ssdpServerString, type SsdpCounters } from './ssdp.js';
// NAT-PMP and PCP.
export { startNatPmpServer, type NatPmpServer, type NatPmpServerStats } from './natpmp/index.js';
export {
  PCP_DEFAULT_POLICY, PcpResponder, answerPcp, encodePcpAnnounce,
  type PcpExistingMapping, type PcpMappingKey, type PcpMappingTable, type PcpPolicy, type PcpStats,
  type PcpTableMapRequest, type PcpTablePeerEnd, type PcpTablePeerFlow, type PcpTablePeerRequest, type PcpTableResult,
} from './pcp/index.js';
