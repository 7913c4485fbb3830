/**
 * Links: the router's ports. The Link interface and the FrameBatch it moves, the TAP
 * link over our N-API addon, and the offload helpers (virtio-net header, partial
 * checksums, software GSO). Nothing else of the gateway is imported here apart from the
 * exec helper (`ip`) the TAP link uses for set-up. The in-memory link pair for tests is
 * in `../testing/`.
 */
export { FrameFlag, isGso, createFrameBatch, pushFrame, pushFrameFrom, type FrameBatch } from './frame-batch.js';
export { LinkError, newCounters, BATCH_SLOTS, SLOT_SIZE, type Link, type LinkCounters, type LinkState } from './link.js';
export {
  VNET_HDR_BYTES, VirtioGso, VnetHdrStatus, decodeVnetHdr, encodeVnetHdr, onesComplementSum, completeChecksum, partialChecksumValue,
  adjustPartialChecksum,
} from './vnet-header.js';
export { GsoSegmenter, SegmentError, MAX_SEGMENTS } from './gso.js';
export { UdpCoalescer, MAX_COALESCED } from './udp-coalesce.js';
export { TapLink, loadTapAddon, type TapAddon, type TapLinkOptions } from './tap-link.js';
