/**
 * @openigd/gateway/testing: test doubles for the gateway's own tests and for benchmarks.
 * Production code never imports this entry point.
 * - MemoryLink: an in-memory pair of links (software offloads, no kernel),
 * - FakeHost and hand-built frames (Ethernet, ARP, IPv4/UDP, IPv4/TCP),
 * - runLinkContract: the suite every Link must pass,
 * - statusFixture: a complete GatewayStatus for the admin API's and the metrics' tests,
 * - tapTestsSkipReason: why tests of real TAP devices cannot run on this machine.
 */
export * from './memory-link.js';
export * from './fake-host.js';
export * from './link-contract.js';
export * from './status-fixture.js';
export * from './tap-skip.js';
