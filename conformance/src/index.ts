/**
 * @openigd/conformance — `openigd conformance`, and the protocol clients (SOAP, SSDP, GENA,
 * HTTP, NAT-PMP, PCP) that it, the benchmarks and the end-to-end tests share. Written from
 * the specifications: nothing here imports the server side of igd-service (only its
 * declaration tables, which are data).
 */
export * from './soap-client.js';
export * from './pcp-client.js';
export * from './http-client.js';
export * from './xml.js';
export * from './natpmp-client.js';
export * from './ssdp-client.js';
export * from './registry.js';
export { runConformance, runProbeAgentCli, parseConformanceArgs, CONFORMANCE_USAGE, PROBE_USAGE } from './cli.js';
export { startProbeAgent, agentAddress, ProbeAgentClient, parseProbeRequest, type ProbeRequest, type ProbeAnswer } from './probe-agent.js';
export { runChecks, selectChecks, type RunReport } from './runner.js';
export { textReport, jsonReport, junitReport, exitStatus, totals } from './report.js';
export { ALL_CHECKS } from './checks/all.js';
