/**
 * Why tests that open real TAP devices cannot run here, or undefined when they can: they
 * need root, /dev/net/tun and the built addon. Logs the reason once, naming the tests.
 */
import { existsSync } from 'node:fs';
import { loadTapAddon } from '../link/tap-link.js';

export function tapTestsSkipReason(tests: string): string | undefined {
  const reason = whyNoTap();
  if (reason) console.log(`${tests} skipped: ${reason}`);
  return reason;
}

function whyNoTap(): string | undefined {
  if (process.getuid?.() !== 0) return 'they need root (CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun on this machine';
  try {
    loadTapAddon();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}
