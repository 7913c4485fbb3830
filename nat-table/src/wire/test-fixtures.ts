/**
 * Byte-exact frames shared by the wire and translation tests. Checksums were computed
 * by an independent implementation (Python, RFC 1071), not by this package.
 * Hosts: 192.168.1.100 (LAN) and 198.51.100.10 (internet); MACs 02:00:00:00:00:01/02.
 */
export const FIXTURE = {
  /** UDP 12345 → 53, payload "hello", DF, TTL 64, id 0x1234. */
  udp: '0200000000010200000000020800450000211234400040113c4ec0a80164c633640a30390035000d9f4968656c6c6f',
  /** The same with UDP checksum 0 (none). */
  udpNoChecksum: '0200000000010200000000020800450000211234400040113c4ec0a80164c633640a30390035000d000068656c6c6f',
  /** TCP SYN 40000 → 80, seq 0x01020304, MSS/SACK/TS/WS options (data offset 40). */
  tcpSyn: '02000000000102000000000208004500003c1234400040063c3ec0a80164c633640a9c4000500102030400000000a002faf0c02d0000020405b40402080a000000010000000001030307',
  /** The UDP frame with an 802.1Q tag, VLAN 100. */
  vlanUdp: '020000000001020000000002810000640800450000211234400040113c4ec0a80164c633640a30390035000d9f4968656c6c6f',
  /** IPv4 with a 4-byte Router Alert option (IHL 6), UDP 1 → 2, no payload. */
  ipOptions: '020000000001020000000002080046000020123440004011a74ac0a80164c633640a940400000001000200081391',
  /** A first fragment (MF set), 16 bytes of zeros. */
  fragment: '0200000000010200000000020800450000241234200040115c4bc0a80164c633640a00000000000000000000000000000000',
  /** ICMP echo request, id 0x1a2b, seq 1, data "abcdefgh". */
  echo: '0200000000010200000000020800450000241234400040013c5bc0a80164c633640a08004c3e1a2b00016162636465666768',
  /** ICMP port unreachable from .100 quoting a UDP 53 → 12345 packet it received from .10. */
  portUnreachable: '0200000000010200000000020800450000384321400040010b5ac0a80164c633640a03032d3800000000450000211234400040113c4ec633640ac0a8016400353039000d9f49',
  /** ARP who-has 192.168.1.1 tell 192.168.1.100. */
  arpRequest: 'ffffffffffff02000000000208060001080006040001020000000002c0a80164000000000000c0a80101',
} as const;

export function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export const ip = (s: string): number => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
