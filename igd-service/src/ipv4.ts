/**
 * IPv4 addresses as the control plane meets them: dotted-quad text to a 32-bit number,
 * and prefix masks. One copy for igd-service (SSDP's LAN check, the access rules, NAT-PMP's
 * address answer); igd-service may not import nat-table, which has its own for the packet path.
 */

/** `a.b.c.d` (each part 0–255, no leading zeros) as an unsigned 32-bit number; undefined otherwise. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    value = value * 256 + Number(p);
  }
  return value;
}

/** The netmask of a prefix length 0–32, as an unsigned 32-bit number. */
export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffff_ffff << (32 - prefixLength)) >>> 0;
}
