/** What `run`, `lab up` and `lab down` need before they start: root and the TUN device. */
import { existsSync } from 'node:fs';
import { CliError } from './args.js';

/** Root and /dev/net/tun are needed for TAP devices and namespaces; a `CliError` says which is missing. */
export function checkCapabilities(): void {
  if (process.getuid?.() !== 0) throw new CliError('must run as root (it creates TAP devices and moves them between network namespaces)');
  if (!existsSync('/dev/net/tun')) throw new CliError('/dev/net/tun is missing: load the tun module or run the container with --device /dev/net/tun');
}
