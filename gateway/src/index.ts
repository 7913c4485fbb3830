/**
 * @openigd/gateway: the daemon (links, router, DHCP, config, CLI, lab). This entry point
 * holds what the CLI's users, the benchmarks and the end-to-end tests use; test doubles
 * (the in-memory links, the fake host, the link contract) are in `@openigd/gateway/testing`.
 */
export { labUp, labDown, labRecord, labRestartDaemon, LAB_DEFAULT_DIR, LAB_DEFAULT_PREFIX, type LabOptions, type LabRecord } from './lab/lab.js';
export { loadConfig, parseConfig, checkConfig, ConfigError, CONFIG_SCHEMA, type GatewayConfig } from './config/config.js';
export { startDaemon, runDaemon, type RunningDaemon } from './daemon.js';
export { Gateway, type GatewayParts } from './gateway.js';
export { ServiceTcp, type ServiceTcpOptions } from './service-tcp/service-tcp.js';
export { type Clock, monotonicClock, ManualClock } from './clock.js';
export { TapLink, loadTapAddon, FrameFlag, createFrameBatch, pushFrame, type FrameBatch, type Link, type LinkCounters, type TapLinkOptions } from './link/index.js';
export { Replay, type ReplaySummary, type ReplayOptions } from './replay/replay.js';
export { replayFiles, type ReplayFiles, type ReplayFilesResult } from './replay/replay-command.js';
export { readPcapFile, parsePcap, PcapFormatError, type PcapFrames } from './capture/pcap-reader.js';
export { PcapWriter } from './capture/pcap-writer.js';
export type { FrameTap } from './router/forwarder.js';
