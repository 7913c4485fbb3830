export * from './link.js';
export { MemoryLink } from './memory-link.js';
export { TapLink, loadTapAddon, type TapOptions } from './tap-link.js';
