/**
 * @openigd/igd-service/testing: test doubles for igd-service's own tests and for other
 * packages' tests and benchmarks. Production code never imports this entry point.
 * - MemoryMappingStore (can be told to fail or to hold writes), ManualClock,
 * - MemoryPortMappingBackend (the forwarding rules in a Map, no data plane),
 * - SOAP request builders, a raw HTTP client (exact bytes both ways), a small XML reader.
 */
export * from './test-support.js';
export * from './memory-backend.js';
