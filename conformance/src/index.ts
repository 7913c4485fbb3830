/**
 * @openigd/conformance — `openigd conformance`, and the protocol clients (SOAP, SSDP, GENA,
 * HTTP, NAT-PMP, PCP) that it, the benchmarks and the end-to-end tests share. Written from
 * the specifications: nothing here imports the server side of igd-service (only its
 * declaration tables, which are data).
 */
export * from './soap-client.js';
export * from './pcp-client.js';
